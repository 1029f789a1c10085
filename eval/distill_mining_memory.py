"""Peak memory of mining a large synthetic training set with the `sim` judge (issue 21, item 5).

Synthetic queries (generated lazily: never all in memory) with DEPTH candidates each (about 60
words per passage, like MS MARCO) and random graded labels; the default recipe (the teacher ranks
with heapsort, its top 20 decided, window pairs over its top 20, training on its top 20), mined by
`mine_to_folder` SHARD queries at a time into parquet shards. The resident set size is sampled
after every shard (VmRSS) and the peak read from getrusage at the end.

Usage: python eval/distill_mining_memory.py [--queries 10000] [--shard 1000] [--depth 30]
           [--out eval/out/mining_rss] [--cache FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.distill import dataset as dataset_module
from rankpipe.distill.pipeline import MiningSettings, mine_to_folder
from rankpipe.judges.simulated import SimulatedJudge

WORDS = [f"w{i}" for i in range(5000)]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synthetic(n: int, depth: int, labels: dict[str, dict[str, int]]) -> Iterator[QueryCandidates]:
    """Queries made one at a time; their labels go into `labels` (the judge reads them)."""
    for q in range(n):
        rng = random.Random(q)
        qid = f"q{q}"
        labels[qid] = {f"{qid}d{i}": rng.choice((0, 0, 0, 1, 2, 3)) for i in range(depth)}
        candidates = tuple(
            Candidate(f"{qid}d{i}", " ".join(rng.choices(WORDS, k=60)), float(depth - i), i + 1)
            for i in range(depth)
        )
        yield QueryCandidates(Query(qid, " ".join(rng.choices(WORDS, k=6))), candidates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10000)
    parser.add_argument("--shard", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("eval/out/mining_rss"))
    parser.add_argument("--cache", help="an SQLite cache file (default: in memory, per shard)")
    args = parser.parse_args()
    labels: dict[str, dict[str, int]] = {}
    judge = SimulatedJudge(labels, noise=0.1)
    samples: list[tuple[int, float, float]] = []
    started = time.perf_counter()
    write = dataset_module.write_shards

    def watched(shards, out, overwrite=False):  # noqa: ANN001, ANN202 - sample RSS per shard
        def each():  # noqa: ANN202
            for n, shard in enumerate(shards):
                samples.append((n, round(rss_mb(), 1), round(time.perf_counter() - started, 1)))
                print(f"shard {n}: RSS {samples[-1][1]} MB at {samples[-1][2]} s", flush=True)
                yield shard
                for qid in shard[0].data["qid"]:  # the sim judge's labels: the harness's, not
                    labels.pop(qid, None)  # mining's, memory

        return write(each(), out, overwrite)

    import rankpipe.distill.pipeline as pipeline

    pipeline.write_shards = watched
    shutil.rmtree(args.out, ignore_errors=True)
    before = rss_mb()
    mine_to_folder(
        synthetic(args.queries, args.depth, labels),
        judge,
        args.out / "set",
        mining=MiningSettings(),
        cache=args.cache,
        shard_queries=args.shard,
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    info = json.loads((args.out / "set" / "metadata.json").read_text())
    size = sum(p.stat().st_size for p in (args.out / "set").glob("*.parquet")) / 2**20
    print(
        json.dumps(
            {
                "queries": args.queries,
                "shard": args.shard,
                "depth": args.depth,
                "rss_before_mb": round(before, 1),
                "peak_rss_mb": round(peak, 1),
                "per_shard": samples,
                "judged_pairs": info["judged_pairs"],
                "inferences": info["inferences"],
                "parquet_mb": round(size, 1),
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
