"""GPU benchmark of the `hf` judge, for a machine with torch and transformers but no weights and no
network: model shapes built with `from_config` (random weights: throughput does not depend on their
values, answers do, so nothing here measures ranking quality).

    python eval/bench_gpu.py [--output eval/results/gpu.json] [--shapes qwen2.5-0.5b,...]
    python eval/bench_gpu.py --smoke          # tiny shapes on the CPU, seconds: tests run this

For each shape (Qwen2.5-0.5B, 1.5B, 7B; FLAN-T5-XL):
  * ceiling: a plain forward of B same-length prompts (the mean real prompt length), logits of the
    last position only, bf16, sdpa: judgments/s at batch sizes 1 to 256;
  * judge: rankpipe's `hf` judge end to end (rendering, tokenizing, padding, scoring) on real
    pairwise prompts of different queries (nothing shared), at the same batch sizes, and its
    fraction of the ceiling;
  * all-pairs: one query's top 100 (9,900 prompts, both orders) with `prefix_reuse` off and on,
    measured on the first `--allpairs-rows` passages A (x 99 prompts each) and extrapolated to 100
    rows (printed as such); causal shapes only;
  * decode: greedy decode steps per second after a prompt of that length, at batch 1, 16 and 64
    (for the time cost model);
then, at the 7B shape, rerank DL19 (43 queries) with quickselect and heapsort through the executor,
measured on `--e2e-queries` queries and extrapolated to 43 (printed as such).

Prompts: DL19 BM25 top-100 from $RANKPIPE_DATA (default ../shared/data) when present, else the
packaged demo collection (10 queries x 20 passages). Tokenizer: SmolLM2's when it resolves here,
else a byte-level BPE trained in this run on the prompts' texts (no tokenizer files needed), with a
ChatML chat template: token counts are near, not equal, to each model's own tokenizer.

Prints a short table last; writes everything as JSON to --output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {
        "kind": "qwen2", "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
        "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936,
        "tie_word_embeddings": True,
    },
    "qwen2.5-1.5b": {
        "kind": "qwen2", "hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12,
        "num_key_value_heads": 2, "intermediate_size": 8960, "vocab_size": 151936,
        "tie_word_embeddings": True,
    },
    "qwen2.5-7b": {
        "kind": "qwen2", "hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28,
        "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064,
        "tie_word_embeddings": False,
    },
    "flan-t5-xl": {
        "kind": "t5", "d_model": 2048, "d_ff": 5120, "d_kv": 64, "num_layers": 24,
        "num_decoder_layers": 24, "num_heads": 32, "vocab_size": 32128,
        "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False,
    },
}
SMOKE_SHAPES: dict[str, dict[str, Any]] = {
    "tiny-qwen2": {
        "kind": "qwen2", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 4096,
        "tie_word_embeddings": True,
    },
    "tiny-t5": {
        "kind": "t5", "d_model": 64, "d_ff": 128, "d_kv": 16, "num_layers": 2,
        "num_decoder_layers": 2, "num_heads": 4, "vocab_size": 4096,
        "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False,
    },
}
E2E_SHAPE = "qwen2.5-7b"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def clock(device: str, work: Callable[[], Any]) -> float:
    sync(device)
    started = time.perf_counter()
    work()
    sync(device)
    return time.perf_counter() - started


def demo_or_dl19() -> tuple[str, list[Any]]:
    from rankpipe.data.datasets import data_dir, load_dataset

    if (data_dir() / "dl19" / "bm25_top100.jsonl").is_file():
        return "dl19", list(load_dataset("dl19").candidates)
    return "demo", list(load_dataset("demo").candidates)


def make_tokenizer(items: list[Any], vocab: int) -> tuple[Any, str]:
    """SmolLM2's tokenizer when it resolves here, else a BPE trained on the items' texts."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    try:
        from rankpipe.models import resolve_model

        tokenizer = AutoTokenizer.from_pretrained(
            resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
        )
        if len(tokenizer) <= vocab:
            return tokenizer, "SmolLM2-135M-Instruct"
    except Exception:  # no packaged copy on this machine: train one below
        pass
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = [i.query.text for i in items] + [c.text for i in items for c in i.candidates]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=min(vocab, 8192), special_tokens=specials,
                                   initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHATML
    return tokenizer, f"byte-level BPE trained here ({len(tokenizer)} tokens)"


def build(shape: dict[str, Any], device: str, dtype: torch.dtype, tokenizer: Any) -> Any:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, Qwen2Config, T5Config

    fields = {k: v for k, v in shape.items() if k != "kind"}
    if shape["kind"] == "t5":
        config: Any = T5Config(
            **fields, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
        loader: Any = AutoModelForSeq2SeqLM
    else:
        config = Qwen2Config(
            **fields, max_position_embeddings=32768, rope_theta=1e6, use_sliding_window=False,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        )
        loader = AutoModelForCausalLM
    torch.manual_seed(0)
    with torch.device(device):
        model = loader.from_config(config, dtype=dtype, attn_implementation="sdpa")
    return model.eval()


def pair_prompts(items: list[Any], count: int, seed: int) -> list[Any]:
    """Pairs of different queries' top-20 passages, shuffled: nothing shared between prompts."""
    from rankpipe.judges.base import PairPrompt

    rng = random.Random(seed)
    prompts = []
    for n in range(count):
        item = items[n % len(items)]
        a, b = rng.sample(list(item.candidates[:20]), 2)
        prompts.append(PairPrompt(item.query, a, b))
    rng.shuffle(prompts)
    return prompts


def ceiling(model: Any, seq2seq: bool, batch: int, length: int, device: str, repeats: int) -> float:
    """Judgments/s of the plain forward: `batch` random prompts of `length` tokens, last logits."""
    vocab = model.config.vocab_size
    ids = torch.randint(100, vocab - 1, (batch, length), device=device)
    inputs: dict[str, Any] = {"input_ids": ids, "use_cache": False}
    if seq2seq:
        inputs["decoder_input_ids"] = torch.zeros((batch, 2), dtype=torch.long, device=device)
    else:
        inputs["logits_to_keep"] = 1

    def run() -> None:
        with torch.inference_mode():
            for _ in range(repeats):
                model(**inputs)

    run()  # warm-up
    return batch * repeats / clock(device, run)


def decode_steps(model: Any, batch: int, length: int, steps: int, device: str) -> float:
    """Greedy decode steps per second after a `length`-token prompt (each step: one token per
    row, the key-value cache growing)."""
    from transformers import DynamicCache

    from rankpipe.judges.prefix import cache_argument

    vocab = model.config.vocab_size
    ids = torch.randint(100, vocab - 1, (batch, length), device=device)
    with torch.inference_mode():
        cache = {cache_argument(model): DynamicCache(config=model.config)}
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1, **cache)
        token = out.logits[:, -1:].argmax(-1)

        def run() -> None:
            nonlocal token
            for _ in range(steps):
                out = model(input_ids=token, use_cache=True, logits_to_keep=1, **cache)
                token = out.logits[:, -1:].argmax(-1)

        return steps / clock(device, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU (seconds)")
    parser.add_argument("--shapes", default=None, help="comma-separated; default all")
    parser.add_argument("--batches", default=None, help="default 1,4,16,64,256 (smoke 1,4)")
    parser.add_argument("--allpairs-rows", type=int, default=None, help="default 10 (smoke 2)")
    parser.add_argument("--e2e-queries", type=int, default=None, help="default 3 (smoke 1)")
    parser.add_argument("--output", type=Path, default=REPO / "eval" / "results" / "gpu.json")
    args = parser.parse_args()
    smoke = args.smoke
    device = "cpu" if smoke else "cuda"
    if not smoke and not torch.cuda.is_available():
        sys.exit("no CUDA GPU visible to torch; --smoke runs tiny shapes on the CPU")
    dtype = torch.float32 if smoke else torch.bfloat16
    shapes = SMOKE_SHAPES if smoke else SHAPES
    if args.shapes:
        shapes = {k: shapes[k] for k in args.shapes.split(",")}
    batches = [int(b) for b in (args.batches or ("1,4" if smoke else "1,4,16,64,256")).split(",")]
    rows = args.allpairs_rows or (2 if smoke else 10)
    e2e_queries = args.e2e_queries or (1 if smoke else 3)
    depth = 10 if smoke else 100
    repeats = 1 if smoke else 3
    started = time.perf_counter()

    from rankpipe.judges.transformers import TransformersJudge, wrap_model

    source, items = demo_or_dl19()
    min_vocab = min(s["vocab_size"] for s in shapes.values())
    tokenizer, tokenizer_name = make_tokenizer(items, min_vocab)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor(),
        "torch": torch.__version__, "dtype": str(dtype), "prompts": source,
        "tokenizer": tokenizer_name, "smoke": smoke, "shapes": {},
    }
    for name, shape in shapes.items():
        model = build(shape, device, dtype, tokenizer)
        loaded = wrap_model(model, tokenizer, device, name=name)
        seq2seq = loaded.seq2seq
        result: dict[str, Any] = {"ceiling": {}, "judge": {}, "decode_steps_per_s": {}}

        def judge(batch: int, reuse: bool, loaded: Any = loaded, name: str = name) -> Any:
            return TransformersJudge(
                name, device=device, batch_size=batch, prefix_reuse=reuse, loaded=loaded,
                min_mass=0.0,
            )

        sample = judge(1, False)
        lengths = [len(ids) for ids in _encoded(sample, pair_prompts(items, 64, 1))]
        length = round(sum(lengths) / len(lengths))
        result["mean_prompt_tokens"] = length
        for batch in batches:
            result["ceiling"][batch] = ceiling(model, seq2seq, batch, length, device, repeats)
            prompts = pair_prompts(items, batch * repeats, seed=batch)
            plain = judge(batch, False)
            plain.judge(prompts[:batch])  # warm-up
            seconds = clock(device, lambda p=plain, q=prompts: p.judge(q))
            result["judge"][batch] = len(prompts) / seconds
        if not seq2seq:
            result["allpairs_top100"] = allpairs(judge, items, depth, rows, max(batches), device)
            for batch in (1, 16, 64):
                result["decode_steps_per_s"][batch] = decode_steps(
                    model, batch, length, 4 if smoke else 32, device
                )
        if name == E2E_SHAPE or (smoke and not seq2seq):
            result["dl19_e2e"] = end_to_end(
                judge, items, depth, e2e_queries, max(batches), device
            )
        report["shapes"][name] = result
        del model, loaded, sample
        if device == "cuda":
            torch.cuda.empty_cache()
    report["wall_s"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print_table(report, batches)
    print(f"wrote {args.output} ({report['wall_s']:.0f} s)")


def _encoded(judge: Any, prompts: list[Any]) -> list[list[int]]:
    from rankpipe.judges.prompts import encode_pairs

    return encode_pairs(judge.template, judge.loaded.tokenizer, prompts, prefix=True)


def allpairs(
    judge: Callable[[int, bool], Any], items: list[Any], depth: int, rows: int, batch: int,
    device: str,
) -> dict[str, Any]:
    """One query's all-pairs round (both orders) over its top `depth`, measured on `rows` passages
    A of it, prefix reuse off and on."""
    from rankpipe.judges.base import PairPrompt

    item = max(items, key=lambda i: len(i.candidates))
    shown = list(item.candidates[:depth])
    prompts = [PairPrompt(item.query, a, b) for a in shown[:rows] for b in shown if a is not b]
    scale = len(shown) * (len(shown) - 1) / len(prompts)
    out: dict[str, Any] = {"passages": len(shown), "measured_prompts": len(prompts),
                           "extrapolated_x": scale}
    for reuse in (False, True):
        j = judge(batch, reuse)
        j.judge(prompts[: min(batch, 8)])  # warm-up
        if j.prefix_kv is not None:
            j.prefix_kv = type(j.prefix_kv)(j.prefix_kv.budget_bytes)
        seconds = clock(device, lambda j=j: j.judge(prompts))
        key = "prefix_reuse" if reuse else "plain"
        out[key] = {"judgments_per_s": len(prompts) / seconds,
                    "extrapolated_round_s": seconds * scale}
    out["speedup"] = out["prefix_reuse"]["judgments_per_s"] / out["plain"]["judgments_per_s"]
    return out


def end_to_end(
    judge: Callable[[int, bool], Any], items: list[Any], depth: int, queries: int, batch: int,
    device: str,
) -> dict[str, Any]:
    """Rerank `queries` queries (top 10 of `depth`) through the executor, prefix reuse on;
    extrapolated to 43 queries."""
    from rankpipe.executor import Executor
    from rankpipe.strategies.registry import make_strategy

    chosen = [item.truncated(depth) for item in items[:queries]]
    out: dict[str, Any] = {"measured_queries": len(chosen), "depth": depth, "extrapolated_to": 43}
    for strategy in ("quickselect", "heapsort"):
        j = judge(batch, True)
        executor = Executor(j, batch_size=batch, both_orders=True)
        done: dict[str, Any] = {}

        def rerank(e: Any = executor, s: str = strategy, done: dict[str, Any] = done) -> None:
            done["ledger"] = e.run(chosen, make_strategy(s), 10).ledger

        seconds = clock(device, rerank)
        total = done["ledger"].total()
        out[strategy] = {
            "measured_s": seconds, "prompts": total["inferences"], "rounds": total["rounds"],
            "extrapolated_43_s": seconds * 43 / len(chosen),
        }
    return out


def print_table(report: dict[str, Any], batches: list[int]) -> None:
    print(f"\n{report['device']}, torch {report['torch']}, {report['dtype']}, "
          f"prompts from {report['prompts']}, tokenizer: {report['tokenizer']}")
    print("judgments/s: plain-forward ceiling / hf judge end to end (fraction of the ceiling)")
    print(f"{'shape':<14}{'tokens':>7}" + "".join(f"{'batch ' + str(b):>22}" for b in batches))
    for name, r in report["shapes"].items():
        ceil, judged = r["ceiling"], r["judge"]
        cells = "".join(
            f"{ceil[b]:>9.1f} /{judged[b]:>7.1f} ({judged[b] / ceil[b]:.2f})" for b in batches
        )
        print(f"{name:<14}{r['mean_prompt_tokens']:>7}{cells}")
    for name, r in report["shapes"].items():
        if "allpairs_top100" in r:
            a = r["allpairs_top100"]
            print(f"{name}: all-pairs top-{a['passages']} round, {a['measured_prompts']} prompts "
                  f"measured, x{a['extrapolated_x']:.0f} extrapolated: plain "
                  f"{a['plain']['judgments_per_s']:.1f}/s "
                  f"({a['plain']['extrapolated_round_s']:.0f} s), prefix reuse "
                  f"{a['prefix_reuse']['judgments_per_s']:.1f}/s "
                  f"({a['prefix_reuse']['extrapolated_round_s']:.0f} s), {a['speedup']:.2f}x; "
                  f"{a['prefix_reuse']['judgments_per_s'] / max(r['ceiling'].values()):.2f}x "
                  "the best ceiling")
        if r.get("decode_steps_per_s"):
            steps = ", ".join(f"batch {b}: {v:.1f}" for b, v in r["decode_steps_per_s"].items())
            print(f"{name}: decode steps/s {steps}")
        if "dl19_e2e" in r:
            e = r["dl19_e2e"]
            for s in ("quickselect", "heapsort"):
                print(f"{name}: {s} on {e['measured_queries']} queries {e[s]['measured_s']:.1f} s "
                      f"({e[s]['prompts']} prompts, {e[s]['rounds']} rounds); extrapolated to 43 "
                      f"queries: {e[s]['extrapolated_43_s']:.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
