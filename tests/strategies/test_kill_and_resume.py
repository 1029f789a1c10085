"""A `rankpipe rerank` process killed midway (SIGKILL), restarted on the same cache file, ends with
the output of an uninterrupted run, and judges no comparison twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

COMMAND = [
    sys.executable,
    "-m",
    "rankpipe",
    "rerank",
    "--dataset",
    "demo",
    "--strategy",
    "heapsort",
    "--top-k",
    "10",
    "--batch-size",
    "8",
]


def rerank(output: Path, cache: Path, latency: float) -> list[str]:
    return [
        *COMMAND,
        "--judge",
        f"sim:latency={latency}",
        "--cache",
        str(cache),
        "--output",
        str(output),
    ]


def cached_rows(cache: Path) -> int:
    """Judgments committed to the cache file so far (0 before the run has created it)."""
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def inferences(output: Path) -> int:
    return int(json.loads(Path(f"{output}.cost.json").read_text())["total"]["inferences"])


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_a_killed_run_resumes_from_the_cache_without_judging_twice(tmp_path: Path) -> None:
    # the sim judge's latency is not part of its identity: all runs share cache keys
    whole = tmp_path / "whole.trec"
    subprocess.run(rerank(whole, tmp_path / "whole.sqlite", 0.0), check=True, capture_output=True)
    total = inferences(whole)
    assert cached_rows(tmp_path / "whole.sqlite") == total

    cache = tmp_path / "cache.sqlite"
    killed = subprocess.Popen(
        rerank(tmp_path / "killed.trec", cache, 0.02),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while cached_rows(cache) < total // 3:
        assert killed.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run cached too little in 120 s"
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    finished = cached_rows(cache)
    assert total // 3 <= finished < total, "kill it midway: some judgments cached, not all"
    assert not (tmp_path / "killed.trec").exists()

    resumed = tmp_path / "resumed.trec"
    subprocess.run(rerank(resumed, cache, 0.0), check=True, capture_output=True)
    assert resumed.read_text() == whole.read_text()
    assert finished + inferences(resumed) == total
    cost = json.loads(Path(f"{resumed}.cost.json").read_text())["total"]
    assert cost["cache_hits"] >= finished
    assert cached_rows(cache) == total
