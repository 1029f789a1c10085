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


def test_an_output_through_a_symlink_replaces_its_target_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    from rankpipe.data.trec import write_run
    from rankpipe.data.types import Ranking

    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "run.trec"
    target.write_text("old\n")
    link = tmp_path / "run.trec"
    link.symlink_to(target)
    write_run({"q1": Ranking("q1", ("d1",), (1.0,))}, link)
    assert link.is_symlink() and link.resolve() == target
    assert target.read_text() == "q1 Q0 d1 1 1.0 rankpipe\n"
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["run.trec"]


def test_an_output_to_a_fifo_is_written_straight_through(tmp_path: Path) -> None:
    import os
    import threading

    from rankpipe.data.trec import write_run
    from rankpipe.data.types import Ranking

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    read: list[str] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_text()))
    reader.start()
    write_run({"q1": Ranking("q1", ("d1", "d2"), (2.0, 1.0))}, fifo)
    reader.join(timeout=10)
    assert read == ["q1 Q0 d1 1 2.0 rankpipe\nq1 Q0 d2 2 1.0 rankpipe\n"]
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_evaluate_per_query_to_dev_stdout(tmp_path: Path) -> None:
    from rankpipe.data.datasets import DEMO_DIR

    done = subprocess.run(
        [sys.executable, "-m", "rankpipe", "evaluate", str(DEMO_DIR / "run.bm25.trec")]
        + ["--qrels", str(DEMO_DIR / "qrels.trec"), "--per-query", "/dev/stdout", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("run,qid,nDCG@10")
    assert '"nDCG@10"' in done.stdout  # the --json summary follows the rows
