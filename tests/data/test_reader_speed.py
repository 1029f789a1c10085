"""Readers are linear in their input: a run of 43 queries x 5,000 passages (215,000 lines) is read
in well under 10 s (the quadratic duplicate-docid check took about 40 s on it, and 7 minutes on a
1,000,008-line run; eval/results/faults.md has the measurements)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rankpipe.data.trec import read_run
from rankpipe.errors import InputError


def test_a_215000_line_run_is_read_in_linear_time(tmp_path: Path) -> None:
    path = tmp_path / "big.trec"
    with path.open("w") as out:
        for q in range(43):
            for r in range(5000):
                out.write(f"q{q} Q0 doc{r} {r + 1} {100 - r * 0.001:.4f} synth\n")
    started = time.perf_counter()
    run = read_run(path)
    took = time.perf_counter() - started
    assert len(run) == 43 and len(run["q7"].docids) == 5000
    assert took < 10.0, f"{took:.1f} s"
    with path.open("a") as out:  # and a duplicate is still found, naming its line
        out.write("q3 Q0 doc4999 1 1.0 synth\n")
    with pytest.raises(InputError, match=r"line 215001 of .*docid doc4999 appears twice"):
        read_run(path)
