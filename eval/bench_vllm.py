"""Benchmark the vLLM backends: pairwise judgments per second, in-process (`vllm:`) and through
`vllm serve` (`openai:`), on real DL19 pairs with SmolLM2-135M-Instruct, plus engine start times.

    VLLM_CPU_KVCACHE_SPACE=2 .venv-vllm/bin/python eval/bench_vllm.py --batch-sizes 16 128

Needs vLLM in the environment (`make test-vllm` builds .venv-vllm) and the DL19 data
($RANKPIPE_DATA). The two modes run one after the other so that they never share the CPU: first the
server (started here, timed until /health answers, stopped at the end), then the in-process engine.
Each mode judges one warm-up batch (excluded, reported apart), then `--reps` batches of each size,
all distinct prompts: adjacent pairs of the BM25 top 20 of successive DL19 queries, in both orders
(as the executor sends them). The server judge sends a whole batch at once (concurrency = batch)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from rankpipe.data.datasets import load_dataset
from rankpipe.judges.base import Judge, PairPrompt
from rankpipe.judges.spec import make_judge
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


def measure(judge: Judge, batch_sizes: list[int], reps: int) -> dict[str, float]:
    """Seconds of the warm-up batch, then judgments per second for each batch size."""
    prompts = dl19_pairs()
    started = time.perf_counter()
    judge.judge(take(prompts, batch_sizes[0]))
    result = {"warm-up s": time.perf_counter() - started}
    for size in batch_sizes:
        batches = [take(prompts, size) for _ in range(reps)]
        started = time.perf_counter()
        judgments = [j for batch in batches for j in judge.judge(batch)]
        elapsed = time.perf_counter() - started
        result[f"batch {size}"] = len(judgments) / elapsed
        result[f"batch {size} valid"] = sum(j.valid for j in judgments) / len(judgments)
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
        return {"start s": start_s, **measure(judge, batch_sizes, reps)}
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
    return {"start s": start_s, **measure(judge, batch_sizes, reps)}


def table(rows: dict[str, dict[str, float]], batch_sizes: list[int]) -> str:
    header = ["mode", "engine start s", "warm-up batch s"]
    header += [f"judgments/s, batch {size}" for size in batch_sizes] + ["valid answers"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for mode, row in rows.items():
        valid = min(row[f"batch {size} valid"] for size in batch_sizes)
        cells = [mode, f"{row['start s']:.0f}", f"{row['warm-up s']:.1f}"]
        cells += [f"{row[f'batch {size}']:.2f}" for size in batch_sizes] + [f"{valid:.0%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 128])
    parser.add_argument(
        "--reps", type=int, default=2, help="timed batches of each size (default 2)"
    )
    parser.add_argument(
        "--modes", nargs="+", choices=["server", "in-process"], default=["server", "in-process"]
    )
    parser.add_argument("--server-log", type=Path, default=Path("eval/out/vllm-serve.log"))
    args = parser.parse_args()
    args.server_log.parent.mkdir(parents=True, exist_ok=True)
    runners: dict[str, Callable[[], dict[str, float]]] = {
        "server": lambda: bench_server(args.batch_sizes, args.reps, args.server_log),
        "in-process": lambda: bench_in_process(args.batch_sizes, args.reps),
    }
    rows = {}
    for mode in args.modes:
        rows[mode] = runners[mode]()
        print(f"{mode}: {rows[mode]}", file=sys.stderr, flush=True)
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(table(rows, args.batch_sizes))


if __name__ == "__main__":
    main()
