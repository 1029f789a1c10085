"""Benchmark the vLLM backends: pairwise judgments per second, in-process (`vllm:`) and through
`vllm serve` (`openai:`), on real DL19 pairs with SmolLM2-135M-Instruct, plus engine start times and
vLLM's own prefix-cache hit rate; and automatic prefix caching (APC) off and on, with a call's
prompts submitted as asked or in shared-prefix order.

    VLLM_CPU_KVCACHE_SPACE=2 .venv-vllm/bin/python eval/bench_vllm.py --batch-sizes 16 128
    VLLM_CPU_KVCACHE_SPACE=2 .venv-vllm/bin/python eval/bench_vllm.py --modes prefix-cache

Needs vLLM in the environment (`make test-vllm` builds .venv-vllm) and the DL19 data
($RANKPIPE_DATA). The modes run one after the other so that they never share the CPU: first the
server (started here, timed until /health answers, stopped at the end), then the in-process engine.
Each mode judges one warm-up batch (excluded, reported apart), then `--reps` batches of each size,
all distinct prompts: adjacent pairs of the BM25 top 20 of successive DL19 queries, in both orders
(as the executor sends them). The server judge sends a whole batch at once (concurrency = batch).
The hit rate is hits / queries of vLLM's `vllm:prefix_cache_*` counters (prompt tokens) over the
timed batches.

`prefix-cache` mode: an all-pairs round over the BM25 top `--top` of `--queries` DL19 queries, both
orders, in the order the executor asks them ((i, j) then (j, i), row after row), judged in one call
per configuration: APC off (its own engine, in a child process), then APC on with the prompts
submitted as asked and in shared-prefix order (`prefix_order`; one engine, its prefix cache reset
before each). Each configuration reports wall time, judgments per second, vLLM's prefix-cache
counters and the largest difference in P(A) from APC off."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rankpipe.data.datasets import load_dataset
from rankpipe.judges.base import Judge, PairPrompt
from rankpipe.judges.spec import make_judge
from rankpipe.judges.telemetry import PrefixCacheStats
from rankpipe.models import resolve_model

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
ENGINE_OPTIONS = "dtype=float32,max_model_len=1024,enforce_eager=true"
SERVER_OPTIONS = [
    "--host",
    "127.0.0.1",
    "--dtype",
    "float32",
    "--max-model-len",
    "1024",
    "--enforce-eager",
]


def dl19_pairs() -> Iterator[PairPrompt]:
    """Adjacent pairs of each DL19 query's BM25 top 20, both orders, query after query."""
    for item in load_dataset("dl19", 20).candidates:
        top = item.candidates
        for a, b in zip(top, top[1:], strict=False):
            yield PairPrompt(item.query, a, b)
            yield PairPrompt(item.query, b, a)


def take(prompts: Iterator[PairPrompt], count: int) -> list[PairPrompt]:
    return [next(prompts) for _ in range(count)]


def measure(
    judge: Judge, batch_sizes: list[int], reps: int, counters: Callable[[], PrefixCacheStats]
) -> dict[str, float]:
    """Seconds of the warm-up batch, then judgments per second for each batch size, and the
    prefix-cache hit rate over the timed batches."""
    prompts = dl19_pairs()
    started = time.perf_counter()
    judge.judge(take(prompts, batch_sizes[0]))
    result = {"warm-up s": time.perf_counter() - started}
    before = counters()
    for size in batch_sizes:
        batches = [take(prompts, size) for _ in range(reps)]
        started = time.perf_counter()
        judgments = [j for batch in batches for j in judge.judge(batch)]
        elapsed = time.perf_counter() - started
        result[f"batch {size}"] = len(judgments) / elapsed
        result[f"batch {size} valid"] = sum(j.valid for j in judgments) / len(judgments)
    result["hit rate"] = (counters() - before).hit_rate
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_server(batch_sizes: list[int], reps: int, log_path: Path) -> dict[str, float]:
    port = free_port()
    # what `vllm serve` runs (vllm-cpu 0.32.0's `vllm` command fails: see .ci/vllm_stage.sh)
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", resolve_model(MODEL),
        "--served-model-name", MODEL, "--port", str(port), *SERVER_OPTIONS,
    ]  # fmt: skip
    started = time.perf_counter()
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", server, timeout=900)
        start_s = time.perf_counter() - started
        judge = make_judge(
            f"openai:{MODEL}@http://127.0.0.1:{port}/v1,concurrency={max(batch_sizes)}"
        )
        counters = judge.client.prefix_cache  # type: ignore[attr-defined]
        return {"start s": start_s, **measure(judge, batch_sizes, reps, counters)}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def wait_ready(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"vllm serve exited with {server.returncode} before it was ready")
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"vllm serve not ready after {timeout:.0f} s")


def bench_in_process(batch_sizes: list[int], reps: int) -> dict[str, float]:
    started = time.perf_counter()
    judge = make_judge(f"vllm:{MODEL},{ENGINE_OPTIONS}")
    start_s = time.perf_counter() - started
    counters = judge.prefix_cache  # type: ignore[attr-defined]
    return {"start s": start_s, **measure(judge, batch_sizes, reps, counters)}


def all_pairs_round(queries: int, top: int) -> list[PairPrompt]:
    """All pairs of the BM25 top `top` of the first `queries` DL19 queries, both orders, in the
    executor's order: (i, j) then (j, i), for i < j row after row."""
    prompts = []
    for item in load_dataset("dl19", top).candidates[:queries]:
        shown = item.candidates
        for i in range(len(shown)):
            for j in range(i + 1, len(shown)):
                prompts.append(PairPrompt(item.query, shown[i], shown[j]))
                prompts.append(PairPrompt(item.query, shown[j], shown[i]))
    return prompts


def prefix_cache_child(prefix_caching: bool, queries: int, top: int) -> Iterator[dict[str, Any]]:
    """One engine, APC on or off: a warm-up call (other queries' prompts), then the round once per
    submission order, the prefix cache reset before each."""
    judge = make_judge(
        f"vllm:{MODEL},{ENGINE_OPTIONS},prefix_caching={str(prefix_caching).lower()}"
    )
    judge.judge(all_pairs_round(queries + 1, 4)[-12:])  # type: ignore[attr-defined]
    prompts = all_pairs_round(queries, top)
    for prefix_order in (False, True) if prefix_caching else (False,):
        judge.prefix_order = prefix_order  # type: ignore[attr-defined]
        judge.llm.reset_prefix_cache()  # type: ignore[attr-defined]
        before = judge.prefix_cache()  # type: ignore[attr-defined]
        started = time.perf_counter()
        judgments = judge.judge(prompts)
        seconds = time.perf_counter() - started
        counted = judge.prefix_cache() - before  # type: ignore[attr-defined]
        yield {
            "configuration": "APC "
            + (("on, shared-prefix order" if prefix_order else "on, order as asked")
               if prefix_caching else "off"),
            "prompts": len(prompts),
            "seconds": seconds,
            "queried": counted.queries,
            "hits": counted.hits,
            "p_a": [j.p_a for j in judgments],
            "valid": sum(j.valid for j in judgments),
            "prompt_tokens": sum(j.prompt_tokens for j in judgments),
        }  # fmt: skip


def bench_prefix_cache(queries: int, top: int) -> str:
    """Each engine in its own child process (one engine per process; never two at once)."""
    rows: list[dict[str, Any]] = []
    for setting in ("off", "on"):
        child = subprocess.run(
            [sys.executable, __file__, "--prefix-cache-child", setting,
             "--queries", str(queries), "--top", str(top)],
            check=True, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        rows += [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
        print(f"APC {setting}: done", file=sys.stderr, flush=True)
    return prefix_cache_table(rows)


def prefix_cache_table(rows: list[dict[str, Any]]) -> str:
    """The prefix-cache rows as a Markdown table, answers compared with the first row's."""
    reference = rows[0]["p_a"]
    header = [
        "configuration", "prompts", "prompt tokens", "wall s", "judgments/s",
        "prefix-cache queries (tokens)", "hits (tokens)", "hit rate", "valid",
        "largest P(A) change vs APC off",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        queried, hits, seconds = int(row["queried"]), int(row["hits"]), float(row["seconds"])
        diff = max(abs(a - b) for a, b in zip(row["p_a"], reference, strict=True))  # type: ignore[call-overload]
        cells = [
            str(row["configuration"]), str(row["prompts"]), str(row["prompt_tokens"]),
            f"{seconds:.1f}", f"{int(row['prompts']) / seconds:.2f}", str(queried), str(hits),
            f"{hits / queried:.1%}" if queried else "-", f"{row['valid']}/{row['prompts']}",
            f"{diff:.2g}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(rows: dict[str, dict[str, float]], batch_sizes: list[int]) -> str:
    header = ["mode", "engine start s", "warm-up batch s"]
    header += [f"judgments/s, batch {size}" for size in batch_sizes]
    header += ["valid answers", "prefix-cache hit rate"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for mode, row in rows.items():
        valid = min(row[f"batch {size} valid"] for size in batch_sizes)
        cells = [mode, f"{row['start s']:.0f}", f"{row['warm-up s']:.1f}"]
        cells += [f"{row[f'batch {size}']:.2f}" for size in batch_sizes]
        cells += [f"{valid:.0%}", f"{row['hit rate']:.1%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 128])
    parser.add_argument(
        "--reps", type=int, default=2, help="timed batches of each size (default 2)"
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["server", "in-process", "prefix-cache"],
        default=["server", "in-process"],
    )
    parser.add_argument("--server-log", type=Path, default=Path("eval/out/vllm-serve.log"))
    parser.add_argument("--queries", type=int, default=3, help="prefix-cache mode (default 3)")
    parser.add_argument("--top", type=int, default=8, help="prefix-cache mode (default 8)")
    parser.add_argument("--prefix-cache-child", choices=["on", "off"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--table-from",
        type=Path,
        nargs="+",
        help="print the prefix-cache table from children's saved output instead of running",
    )
    args = parser.parse_args()
    if args.table_from:
        lines = [line for path in args.table_from for line in path.read_text().splitlines()]
        print(prefix_cache_table([json.loads(line) for line in lines if line.startswith("{")]))
        return
    if args.prefix_cache_child:
        for row in prefix_cache_child(args.prefix_cache_child == "on", args.queries, args.top):
            print(json.dumps(row), flush=True)  # each row as it comes: a late failure keeps it
        return
    args.server_log.parent.mkdir(parents=True, exist_ok=True)
    runners: dict[str, Callable[[], dict[str, float]]] = {
        "server": lambda: bench_server(args.batch_sizes, args.reps, args.server_log),
        "in-process": lambda: bench_in_process(args.batch_sizes, args.reps),
    }
    print(f"1-minute load average at the start: {os.getloadavg()[0]:.2f}", flush=True)
    rows = {}
    for mode in args.modes:
        if mode == "prefix-cache":
            continue
        rows[mode] = runners[mode]()
        print(f"{mode}: {rows[mode]}", file=sys.stderr, flush=True)
    apc = bench_prefix_cache(args.queries, args.top) if "prefix-cache" in args.modes else ""
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if rows:
        print(table(rows, args.batch_sizes))
    if apc:
        print(apc)


if __name__ == "__main__":
    main()
