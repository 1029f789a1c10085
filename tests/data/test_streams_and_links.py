"""Inputs that are not plain files: a pipe (`--candidates /dev/stdin`, process substitution) is
read like a file; a loop of symbolic links and a dangling link are named as such, not "no such
file"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rankpipe.data.candidates import read_candidates, write_candidates
from rankpipe.data.trec import read_run
from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.errors import InputError

ITEMS = [
    QueryCandidates(
        Query("q1", "what do bees eat"),
        (Candidate("d1", "nectar and pollen", 2.0, 1), Candidate("d2", "aphids", 1.0, 2)),
    )
]


def test_candidates_from_a_pipe_on_stdin(tmp_path: Path) -> None:
    source = tmp_path / "cands.jsonl"
    write_candidates(ITEMS, source)
    output = tmp_path / "run.trec"
    done = subprocess.run(
        [sys.executable, "-m", "rankpipe", "convert", "--candidates", "/dev/stdin"]
        + ["--output", str(output)],
        input=source.read_text(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert read_run(output)["q1"].docids == ("d1", "d2")
    assert source.read_text()  # the input is untouched


def test_a_fifo_reads_like_a_file(tmp_path: Path) -> None:
    import os
    import threading

    source = tmp_path / "cands.jsonl"
    write_candidates(ITEMS, source)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(source.read_text()))
    writer.start()
    assert read_candidates(fifo) == read_candidates(source)
    writer.join()


def test_a_symlink_loop_and_a_dangling_link_are_named(tmp_path: Path) -> None:
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match=r"loop\.jsonl: a loop of symbolic links"):
        read_candidates(loop)
    dangling = tmp_path / "gone.trec"
    dangling.symlink_to(tmp_path / "nowhere.trec")
    with pytest.raises(InputError, match=r"gone\.trec: a symbolic link to .*nowhere\.trec, which"):
        read_run(dangling)
