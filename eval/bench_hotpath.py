"""Benchmark the `hf` judge's hot path on this CPU: shared-prefix reuse against the plain path, and
the same-work comparison with llm-rankers (ielab/llm-rankers, its stock `PairwiseLlmRanker`).

    python eval/bench_hotpath.py rounds [--threads 1] [--qid 264014] [--allpairs-rows 20]
            [--heap-depth 30]
        an all-pairs round over one DL19 query's BM25 top 20 (380 prompts, both orders; on a busy
        CPU measure the first --allpairs-rows passages A of it, 19 prompts each) and a
        3-query heapsort run (top 10 of the first --heap-depth candidates), each with
        `prefix_reuse=false` then `prefix_reuse=true` in this process, back to back: judgments/s,
        CPU seconds, tokens run through the model, and the largest difference between answers.
    python eval/bench_hotpath.py side-by-side --peer-python /tmp/peer-venv/bin/python \
            --peer-code /tmp/llm-rankers [--qid 264014]
        both systems at once, each pinned to its own core (taskset) with one torch thread, on one
        DL19 query's BM25 top 100, SmolLM2-135M-Instruct, pairwise heapsort for the top 10, both
        orders: rankpipe `heapsort:sift=sequential` with its CPU default `hf` judge, llm-rankers'
        `PairwiseLlmRanker(method="heapsort", batch_size=2, k=10)` with query and passages cut to
        128 tokens (its run.py defaults). Prompts/s and prompt tokens/s as each system counts them.
    (`rankpipe-side` and `peer-side` are the two halves; `peer-side` imports neither rankpipe nor
    anything but torch and transformers, and runs in the peer's own environment.)

Every mode prints one JSON object per measurement and appends it to --output (JSON lines, default
eval/results/hotpath.jsonl), with the 1-minute load average before and after: the CPU may be
shared, so prefer the ratios measured in one process and read absolute rates as lower bounds."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
REPO = Path(__file__).resolve().parent.parent


def load() -> float:
    return os.getloadavg()[0]


def emit(record: dict[str, Any], output: Path) -> None:
    record = {
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
        **record,
    }
    print(json.dumps(record), flush=True)
    with output.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def dl19_items(qids: list[str] | None, count: int) -> list[Any]:
    from rankpipe.data.datasets import load_dataset

    items = load_dataset("dl19").candidates
    if qids:
        chosen = [i for i in items if i.query.qid in qids]
        if len(chosen) != len(qids):
            sys.exit(f"DL19 has no query {set(qids) - {i.query.qid for i in chosen}}")
        return chosen
    return items[:count]


def judge(prefix_reuse: bool, batch_size: int | None) -> Any:
    from rankpipe.judges.transformers import TransformersJudge

    return TransformersJudge(
        SMOLLM2, device="cpu", batch_size=batch_size, prefix_reuse=prefix_reuse
    )


def timed_call(answer: Any, *args: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = answer(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def rounds(args: argparse.Namespace) -> None:
    import torch

    from rankpipe.executor import Executor
    from rankpipe.judges.base import PairPrompt
    from rankpipe.judges.prefix import PrefixCache
    from rankpipe.judges.transformers import DEFAULT_PREFIX_CACHE_MB
    from rankpipe.strategies.registry import make_strategy

    torch.set_num_threads(args.threads)
    plain, reusing = judge(False, args.batch_size), judge(True, args.batch_size)
    # warm-up on other prompts: first kernels and allocations excluded
    warm = dl19_items(None, 43)[-1]
    warmup = [
        PairPrompt(warm.query, a, b) for a, b in itertools.permutations(warm.candidates[:3], 2)
    ]
    plain.judge(warmup), reusing.judge(warmup)
    reusing.prefix_kv = PrefixCache(DEFAULT_PREFIX_CACHE_MB * 2**20)  # nothing of it cached

    (item,) = dl19_items([args.qid], 1)
    shown = item.candidates[:20]
    rows = shown[: args.allpairs_rows]  # passages A measured: all 20 is the whole round
    prompts = [PairPrompt(item.query, a, b) for a in rows for b in shown if a is not b]
    results = {}
    for name, j in (("plain", plain), ("prefix_reuse", reusing)):
        before, tokens = load(), j.stats.computed_tokens
        answers, wall, cpu = timed_call(j.judge, prompts)
        results[name] = answers
        emit({
            "bench": "allpairs-top20", "qid": item.query.qid, "path": name, "rows": len(rows),
            "threads": args.threads, "batch_size": j.batch_size, "prompts": len(prompts),
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "judgments_per_s": round(len(prompts) / wall, 3),
            "prompt_tokens": sum(a.prompt_tokens for a in answers),
            "computed_tokens": j.stats.computed_tokens - tokens,
            "load_before": before, "load_after": load(),
        }, args.output)
    diff = max(abs(x.p_a - y.p_a) for x, y in zip(*results.values(), strict=True))
    emit({"bench": "allpairs-top20", "max_abs_diff_p_a": diff}, args.output)

    items = [i.truncated(args.heap_depth) for i in dl19_items(None, 3)]
    runs = {}
    for name, j in (("plain", plain), ("prefix_reuse", reusing)):
        before, tokens = load(), j.stats.computed_tokens
        executor = Executor(j, batch_size=args.executor_batch, both_orders=True)
        (run, ledger), wall, cpu = timed_call(
            executor.rerank, items, make_strategy(args.heap_strategy), 10
        )
        total = ledger.total()
        runs[name] = run
        emit({
            "bench": "heapsort-3q", "strategy": args.heap_strategy, "depth": args.heap_depth,
            "path": name, "threads": args.threads, "batch_size": j.batch_size,
            "executor_batch": args.executor_batch, "prompts": total["inferences"],
            "rounds": total["rounds"], "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "judgments_per_s": round(total["inferences"] / wall, 3),
            "prompt_tokens": total["prompt_tokens"],
            "computed_tokens": j.stats.computed_tokens - tokens,
            "load_before": before, "load_after": load(),
        }, args.output)
    same = all(runs["plain"][q].docids == runs["prefix_reuse"][q].docids for q in runs["plain"])
    emit({"bench": "heapsort-3q", "same_rankings": same}, args.output)


def rankpipe_side(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from rankpipe.executor import Executor
    from rankpipe.judges.transformers import TransformersJudge
    from rankpipe.strategies.registry import make_strategy

    torch.set_num_threads(1)
    j = TransformersJudge(SMOLLM2, device="cpu")
    (item,) = dl19_items([args.qid], 1)
    item = item.truncated(args.depth)
    started = time.perf_counter()
    results = Executor(j, batch_size=args.executor_batch, both_orders=True).run(
        [item], make_strategy("heapsort:sift=sequential"), 10
    )
    run, ledger = results.run, results.ledger
    wall = time.perf_counter() - started
    total = ledger.total()
    return {
        "system": "rankpipe", "judge": j.identity.split(",prompt")[0],
        "strategy": "heapsort:sift=sequential", "executor_batch": args.executor_batch,
        "judge_batch": j.batch_size, "prompts": total["inferences"], "wall_s": round(wall, 1),
        "prompt_tokens": total["prompt_tokens"], "invalid": total["invalid_answers"],
        "top10": list(run[item.query.qid].docids[:10]),
    }


def peer_side(args: argparse.Namespace) -> dict[str, Any]:
    """llm-rankers' stock PairwiseLlmRanker on one DL19 query, as its run.py would call it."""
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, args.peer_code)
    from llmrankers.pairwise import PairwiseLlmRanker  # type: ignore[import-not-found]
    from llmrankers.rankers import SearchResult  # type: ignore[import-not-found]

    model = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c",
         f"from rankpipe.models import resolve_model; print(resolve_model({SMOLLM2!r}))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip() if args.peer_model is None else args.peer_model
    ranker = PairwiseLlmRanker(model, None, "cpu", method="heapsort", batch_size=2, k=10)
    data = Path(os.environ.get("RANKPIPE_DATA", REPO.parent / "shared" / "data"))
    record = next(
        r for r in map(json.loads, (data / "dl19" / "bm25_top100.jsonl").open(encoding="utf-8"))
        if str(r["hits"][0]["qid"]) == args.qid
    )
    query = ranker.truncate(record["query"], 128)
    ranking = [
        SearchResult(docid=str(h["docid"]), score=float(h["score"]),
                     text=ranker.truncate(h["content"], 128))
        for h in record["hits"][: args.depth]
    ]
    started = time.perf_counter()
    reranked = ranker.rerank(query, ranking)
    wall = time.perf_counter() - started
    return {
        "system": "llm-rankers", "ranker": "PairwiseLlmRanker(method=heapsort, batch_size=2, k=10)",
        "comparisons": ranker.total_compare, "prompts": 2 * ranker.total_compare,
        "wall_s": round(wall, 1), "prompt_tokens": ranker.total_prompt_tokens,
        "top10": [r.docid for r in reranked[:10]],
    }


def side_by_side(args: argparse.Namespace) -> None:
    me = [sys.executable, __file__]
    common = ["--qid", args.qid, "--depth", str(args.depth), "--output", str(args.output)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    before = load()
    ours = subprocess.Popen(
        ["taskset", "-c", "0", *me, "rankpipe-side", *common,
         "--executor-batch", str(args.executor_batch)], env=env,
    )
    peer = subprocess.Popen(
        ["taskset", "-c", "1", args.peer_python, __file__, "peer-side", *common,
         "--peer-code", args.peer_code], env=env,
    )
    if ours.wait() or peer.wait():
        sys.exit("a side failed")
    emit({"bench": "side-by-side", "load_before": before, "load_after": load()}, args.output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["rounds", "side-by-side", "rankpipe-side", "peer-side"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="the hf judge's micro-batch (its default)"
    )
    parser.add_argument("--executor-batch", type=int, default=32)
    parser.add_argument("--qid", default="264014")
    parser.add_argument("--depth", type=int, default=100, help="side-by-side: candidates")
    parser.add_argument("--allpairs-rows", type=int, default=20, help="passages A of the round")
    parser.add_argument("--heap-depth", type=int, default=30)
    parser.add_argument("--heap-strategy", default="heapsort")
    parser.add_argument("--peer-python", default="/tmp/peer-venv/bin/python")
    parser.add_argument("--peer-code", default="/tmp/llm-rankers")
    parser.add_argument("--peer-model", default=None, help="default: rankpipe's SmolLM2 folder")
    parser.add_argument("--output", type=Path, default=REPO / "eval" / "results" / "hotpath.jsonl")
    args = parser.parse_args()
    if args.mode == "rounds":
        rounds(args)
    elif args.mode == "side-by-side":
        side_by_side(args)
    else:
        before = load()
        side = rankpipe_side(args) if args.mode == "rankpipe-side" else peer_side(args)
        emit({"bench": "side-by-side", "qid": args.qid, **side,
              "prompts_per_s": round(side["prompts"] / side["wall_s"], 3),
              "prompt_tokens_per_s": round(side["prompt_tokens"] / side["wall_s"], 1),
              "load_before": before, "load_after": load()}, args.output)


if __name__ == "__main__":
    main()
