"""Outputs are written through a temporary file and a rename: a failed write loses nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rankpipe.atomic import atomic_write
from rankpipe.data.trec import read_run, write_run
from rankpipe.data.types import Ranking


def test_success_replaces_the_file_with_a_normal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "out.txt"
    with atomic_write(path) as out:
        out.write("first\n")
    with atomic_write(path) as out:
        out.write("second\n")
    assert path.read_text() == "second\n"
    assert os.listdir(path.parent) == ["out.txt"]
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # the mode any new file gets under this process's umask
    assert path.stat().st_mode == plain.stat().st_mode


def test_a_failure_inside_the_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.txt"
    path.write_text("precious\n")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(path) as out:
        out.write("half of the new content")
        raise RuntimeError("boom")
    assert path.read_text() == "precious\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_a_failing_flush_to_disk_leaves_the_old_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk surfaces when the data reaches it (fsync): the old run survives intact."""
    path = tmp_path / "run.trec"
    old = {"q1": Ranking("q1", ("d1", "d2"))}
    write_run(old, path)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_run({"q1": Ranking("q1", ("d3",)), "q2": Ranking("q2", ("d4",))}, path)
    assert read_run(path) == old
    assert os.listdir(tmp_path) == ["run.trec"]


def test_an_interrupt_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("precious\n")
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as out:
        out.write("partial")
        raise KeyboardInterrupt
    assert path.read_text() == "precious\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_binary_mode(tmp_path: Path) -> None:
    with atomic_write(tmp_path / "out.bin", "wb") as out:
        out.write(b"\x00\xff")
    assert (tmp_path / "out.bin").read_bytes() == b"\x00\xff"
