"""Peak memory of reading a sharded training set back and laying it out for the trainer (issue 21,
item 5: mining streams in shards; this measures the other half, training's input).

Reads the folder `eval/distill_mining_memory.py` wrote (10,000 synthetic queries, 30 candidates of
about 60 words, 160,000 judged pairs, 10 parquet shards) with `load_training_set`, drops a dev
split as `distill` does (`without`), and builds the flattened rows the trainer feeds to the loss
(`training_rows`, 20 passages per query), then reads every row once as the trainer's data loader
would. Prints the resident memory after each step (all, anonymous, file-backed) and the peak
(getrusage, which counts mapped file pages too).

Usage: python eval/distill_training_memory.py [--set eval/out/mining_rss/set]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from rankpipe.distill.dataset import load_training_set
from rankpipe.distill.pipeline import without
from rankpipe.distill.train import training_rows


def rss_mb() -> dict[str, float]:
    """Resident memory now (MB): all of it, the anonymous part (the process's own heap) and the
    file-backed part (memory-mapped files: page cache the kernel may drop and read again)."""
    fields = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file"}
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in fields:
            out[fields[key]] = round(int(line.split()[1]) / 1024, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=Path("eval/out/mining_rss/set"))
    parser.add_argument("--group-size", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    marks = {"imported": rss_mb()}
    training = load_training_set(args.set)
    marks["loaded"] = rss_mb()
    part = without(training, set(training.data["qid"][:200]))
    marks["dev split off"] = rss_mb()
    rows = training_rows(part.data, args.group_size)
    marks["flattened"] = rss_mb()
    seen = sum(len(batch["query"]) for batch in rows.iter(batch_size=64))
    marks["read once"] = rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "queries": training.info.queries,
                "judged_pairs": training.info.judged_pairs,
                "rows": seen,
                "rss_mb": marks,
                "peak_rss_mb": round(peak, 1),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
