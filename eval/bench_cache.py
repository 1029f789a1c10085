"""Benchmark the judgment cache's write cost: the DL19 all-pairs run with the simulated judge.

For each source tree (e.g. this one and an older checkout made with `git worktree add`), it runs
`rankpipe rerank --dataset dl19 --judge sim:noise=0.1 --strategy allpairs` three ways, each in a
fresh process: `--no-cache`, `--cache NEW` (an empty cache, every judgment written) and the same
command again (every judgment read back). Each process reports its wall time, its CPU time (user +
system: steadier than wall time on a shared machine) and the bytes it wrote to storage
(`write_bytes` of /proc/self/io, Linux). The overhead of a cached run is its time over the
`--no-cache` run's, measured back to back in the same round; rounds alternate the trees.

Usage: python eval/bench_cache.py [--tree after=. --tree before=/tmp/before] [--rounds 1]
       [--workdir /tmp/bench-cache]
The table of eval/results/cache.md comes from this script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

COMMAND = ["rerank", "--dataset", "dl19", "--judge", "sim:noise=0.1", "--strategy", "allpairs"]
MODES = ("no-cache", "cold cache", "warm cache", "cold cache (commit per batch)")
TIMES = ("s", "cpu_s")
CHILD = """
import json, os, resource, sys, time
import rankpipe.cache
from rankpipe.cli.main import main
if os.environ.get("BENCH_COMMIT_EVERY_S"):  # schema 2's SQLiteCache(commit_every_s=...)
    defaults = list(rankpipe.cache.SQLiteCache.__init__.__defaults__)
    defaults[-1] = float(os.environ["BENCH_COMMIT_EVERY_S"])
    rankpipe.cache.SQLiteCache.__init__.__defaults__ = tuple(defaults)
started = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
print(json.dumps({"rc": code, "s": seconds, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "write_bytes": int(io["write_bytes"])}))
"""


def run_once(tree: Path, mode: str, workdir: Path) -> dict[str, float]:
    cache = workdir / f"{tree.name}.sqlite"
    if mode.startswith("cold cache"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{cache}{suffix}").unlink(missing_ok=True)
    where = ["--no-cache"] if mode == "no-cache" else ["--cache", str(cache)]
    argv = [*COMMAND, *where, "--output", str(workdir / "run.trec")]
    environment = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "OMP_NUM_THREADS": "1",
        "RANKPIPE_DATA": str(Path(os.environ.get("RANKPIPE_DATA", "../shared/data")).resolve()),
    }
    if "commit per batch" in mode:
        environment["BENCH_COMMIT_EVERY_S"] = "0"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=workdir,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"{tree} {mode}: exit {result['rc']}: {done.stderr}")
    result["file_bytes"] = cache.stat().st_size if mode != "no-cache" else 0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", metavar="NAME=PATH", help="source tree")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-cache"))
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated, of " + ", ".join(MODES)
    )
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in (args.tree or ["after=."]))
    modes = [m for m in MODES if m in args.modes.split(",")]
    args.workdir.mkdir(parents=True, exist_ok=True)
    measured: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for name, path in trees.items():
            for mode in modes:
                if "commit per batch" in mode and "commit_every_s" not in (
                    (Path(path) / "rankpipe" / "cache.py").read_text()
                ):
                    continue  # a tree without grouped commits commits every batch anyway
                result = run_once(Path(path).resolve(), mode, args.workdir)
                measured.setdefault((name, mode), []).append(result)
                print(name, mode, json.dumps(result), file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    print(
        f"DL19 all-pairs, sim:noise=0.1, {args.rounds} round(s); {platform.processor() or 'cpu'}"
        f" {os.cpu_count()} cores, load {load:.1f}, {date.today()}, {time.strftime('%H:%M')}\n"
    )
    print(
        "| tree | run | wall s | CPU s | overhead vs --no-cache (wall, CPU) | MB written "
        "| cache file MB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in trees:
        base = {t: statistics.median(r[t] for r in measured[(name, "no-cache")]) for t in TIMES}
        for mode in modes:
            if (name, mode) not in measured:
                continue
            rows = measured[(name, mode)]
            spent = {t: statistics.median(r[t] for r in rows) for t in TIMES}
            written = statistics.median(r["write_bytes"] for r in rows) / 1e6
            size = statistics.median(r["file_bytes"] for r in rows) / 1e6
            overhead = ", ".join(f"{100 * (spent[t] / base[t] - 1):+.0f}%" for t in TIMES)
            print(
                f"| {name} | {mode} | {spent['s']:.1f} | {spent['cpu_s']:.1f} | "
                f"{'' if mode == 'no-cache' else overhead} | {written:.0f} | {size:.0f} |"
            )


if __name__ == "__main__":
    main()
