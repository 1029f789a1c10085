"""A process killed (SIGKILL) while it writes the cache leaves a valid file, and the rerun repeats
no committed judgment: with a commit per batch and with grouped commits."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ask_rounds import AskRounds
from cache_helpers import queries

from rankpipe.cache import SQLiteCache
from rankpipe.executor import Executor
from rankpipe.judges.simulated import SimulatedJudge

QUERIES, CANDIDATES = 12, 24
PAIRS = [[(a, b) for a in range(CANDIDATES) for b in range(a + 1, CANDIDATES)]]
TOTAL = QUERIES * len(PAIRS[0]) * 2
WRITER = f"""
import sys
sys.path[:0] = {[str(Path(__file__).parent), str(Path(__file__).parents[1])]!r}
from ask_rounds import AskRounds
from cache_helpers import queries
from rankpipe.cache import SQLiteCache
from rankpipe.executor import Executor
from rankpipe.judges.simulated import SimulatedJudge
from test_kill_during_writes import PAIRS, QUERIES, CANDIDATES
cache = SQLiteCache(sys.argv[1], commit_every_s=float(sys.argv[2]))
# 5 ms a call: slow enough that the kill lands mid-run on a fast machine
Executor(SimulatedJudge({{}}, noise=0.5, latency=0.005), cache=cache, batch_size=4).run(
    queries(QUERIES, CANDIDATES), AskRounds(PAIRS), CANDIDATES
)
"""


def committed(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not written yet
        return 0


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("commit_every_s", [0.0, 0.2])
def test_a_kill_during_cache_writes_loses_no_committed_batch(
    tmp_path: Path, commit_every_s: float
) -> None:
    path = tmp_path / "c.sqlite"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(commit_every_s)],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while committed(path) < 200:
        assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
        assert time.monotonic() < deadline, "the writer committed too little in 120 s"
        time.sleep(0.01)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    with SQLiteCache(path) as cache:  # opens: schema intact
        rows, problems = cache.check()
    assert problems == [] and 200 <= rows < TOTAL
    assert rows % 4 == 0  # whole batches only

    judge = SimulatedJudge({}, noise=0.5)
    with SQLiteCache(path) as cache:
        ledger = Executor(judge, cache=cache, batch_size=4).run(
            queries(QUERIES, CANDIDATES), AskRounds(PAIRS), CANDIDATES
        ).ledger
    assert ledger.total()["inferences"] == TOTAL - rows
    assert ledger.total()["cache_hits"] == rows
    assert committed(path) == TOTAL
