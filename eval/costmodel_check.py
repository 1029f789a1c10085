"""Check the time cost model against reality on this CPU: SmolLM2-135M-Instruct through `hf`.

In one process, back to back: (1) calibrate -- time pairwise calls of several sizes and a few
listwise blocks on DL19 queries kept out of the check, and fit the time cost model
(rankpipe/compare/timecost.py) on them; (2) check -- rerank the first few DL19 queries with each
strategy on an empty cache, measure the run's wall time, and predict it from the run's ledger
(prompts and tokens per round, batched across queries as the executor sends them). Prints a
Markdown table and writes the figures as JSON.

    .venv/bin/python eval/costmodel_check.py --queries 2 --depth 8 --top-k 3 \\
        --out eval/out/costmodel_check.json

A strategy the judge cannot serve is listed as skipped. Prompt tokens are the ones the judge
computed: the `hf` judge's prefix reuse takes shared prefixes from its cache, and the model costs
only what ran (the ledger's `round_reused_tokens`)."""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import time
from pathlib import Path

STRATEGIES = (
    "heapsort,quickselect,quicksort,allpairs,sliding,tournament,mergesort,sparse,"
    "jointrank:block=4,replicas=2,pairs,adaptive,tourrank:group=4,setwise"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=2)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per executor call")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--strategies", default=STRATEGIES)
    parser.add_argument(
        "--calibration",
        default="1,2,4,8,8,16,1,4,8,16",
        help="sizes of the pairwise calibration calls (then 3 listwise calls of 4 passages)",
    )
    parser.add_argument("--out", type=Path, default=Path("eval/out/costmodel_check.json"))
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)

    from rankpipe.cache import MemoryCache
    from rankpipe.compare.timecost import CallSample, TimeCostModel
    from rankpipe.data import load_dataset
    from rankpipe.executor import Executor
    from rankpipe.judges.base import BlockPrompt, PairPrompt, listwise_form
    from rankpipe.judges.spec import make_judge
    from rankpipe.strategies.registry import make_strategy

    dl19 = load_dataset("dl19")
    items = [
        type(item)(item.query, item.candidates[: args.depth])
        for item in dl19.candidates[: args.queries]
    ]
    held_out = dl19.candidates[args.queries : args.queries + 6]
    judge = make_judge("hf:HuggingFaceTB/SmolLM2-135M-Instruct,device=cpu")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = _uptime()

    # (1) calibration on held-out queries: pairwise calls of several sizes, listwise blocks
    rng = random.Random(0)
    samples: list[CallSample] = []

    def timed(call, prompts):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        answers = call(prompts)
        seconds = time.perf_counter() - began
        steps = max(a.completion_tokens for a in answers) - 1
        samples.append(CallSample(len(prompts), computed_tokens(answers), max(steps, 0), seconds))

    def pairs(count: int) -> list[PairPrompt]:
        item = rng.choice(held_out)
        return [PairPrompt(item.query, *rng.sample(item.candidates[:30], 2)) for _ in range(count)]

    lister = listwise_form(judge)
    assert lister is not None
    judge.judge(pairs(2))  # warm-up, not fitted
    for size in (int(b) for b in args.calibration.split(",")):
        timed(judge.judge, pairs(size))
    for size in (4, 4):
        item = rng.choice(held_out)
        block = BlockPrompt(item.query, tuple(rng.sample(item.candidates[:30], size)))
        timed(lister.rank, [block])
        timed(lister.rank, [block, BlockPrompt(block.query, tuple(reversed(block.passages)))])
    model = TimeCostModel.fit(
        samples, "smollm2-135m@cpu", f"calibration calls on this CPU, {started}"
    )
    assert model is not None
    print(model.describe(), flush=True)

    # (2) the check: every strategy alone on an empty cache, predicted from its own ledger
    results: list[dict[str, object]] = []
    record = {
        "date": started,
        "uptime_before": load_before,
        "settings": vars(args) | {"out": str(args.out)},
        "model": model.to_dict(),
        "calibration_calls": [vars(s) for s in samples],
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for spec in _split(args.strategies):
        strategy = make_strategy(spec)
        executor = Executor(judge, cache=MemoryCache(), batch_size=args.batch_size)
        try:
            ledger = executor.run(items, strategy, args.top_k).ledger
        except RuntimeError as error:
            results.append({"strategy": spec, "skipped": str(error)})
            print(f"{spec}: skipped ({error})")
            continue
        predicted = model.run_seconds(ledger, args.batch_size).gpu_s
        total = ledger.total()
        row = {
            "strategy": spec,
            "inferences": total["inferences"],
            "judge_calls": total["judge_calls"],
            "prompt_tokens": total["prompt_tokens"],
            "completion_tokens": total["completion_tokens"],
            "measured_s": ledger.wall_s,
            "predicted_s": predicted,
            "error": predicted / ledger.wall_s - 1 if ledger.wall_s else None,
        }
        results.append(row | {"uptime": _uptime()})
        print(
            f"{spec}: {row['inferences']} inferences, measured {ledger.wall_s:.1f} s, "
            f"predicted {predicted:.1f} s ({predicted / ledger.wall_s - 1:+.0%})",
            flush=True,
        )
        args.out.write_text(json.dumps(record, indent=1) + "\n")  # after each: a partial check
    record["uptime_after"] = _uptime()
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print()
    header = ["strategy", "inferences", "prompt tokens", "completion tokens", "measured s"]
    print("| " + " | ".join([*header, "predicted s", "error"]) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in results:
        if "skipped" in row:
            print(f"| {row['strategy']} | skipped: {row['skipped']} | | | | | |")
            continue
        print(
            f"| {row['strategy']} | {row['inferences']} | {row['prompt_tokens']:,} | "
            f"{row['completion_tokens']:,} | {row['measured_s']:.1f} | {row['predicted_s']:.1f} | "
            f"{row['error']:+.0%} |"
        )
    print(f"\nload: before {load_before}; after {record['uptime_after']}")


def computed_tokens(answers: list) -> int:  # type: ignore[type-arg]
    """Prompt tokens the judge ran (less those it reused from a cached shared prefix)."""
    return sum(a.prompt_tokens - a.prefix_reused_tokens for a in answers)


def _split(specs: str) -> list[str]:
    """Comma-separated strategy specs whose own options also use commas: an item with `=` but no
    `:` belongs to the spec before it."""
    out: list[str] = []
    for item in specs.split(","):
        if out and "=" in item and ":" not in item:
            out[-1] += "," + item
        else:
            out.append(item)
    return out


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
