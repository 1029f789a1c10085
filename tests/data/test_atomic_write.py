"""Outputs are written through a temporary file and a rename: a failed write loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rankpipe.atomic import atomic_write, check_writable, remove_stale_temporaries, written_together
from rankpipe.data.trec import read_run, write_run
from rankpipe.data.types import Ranking
from rankpipe.errors import InputError


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


KILLED_WRITER = """
import os, signal, sys
from rankpipe.atomic import atomic_write
with atomic_write(sys.argv[1]) as out:
    out.write("half of the new content")
    out.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_write_killed_midway_leaves_a_named_orphan_that_the_next_write_removes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.trec"
    path.write_text("precious\n")
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=False)
    assert killed.returncode == -signal.SIGKILL
    orphans = [name for name in os.listdir(tmp_path) if name != "run.trec"]
    assert len(orphans) == 1 and orphans[0].startswith(".run.trec.rankpipe-tmp-")
    assert path.read_text() == "precious\n"
    other = tmp_path / ".run.trec.rankpipe-tmp-1"  # pid 1 is alive: its temporary file stays
    other.write_text("")
    with atomic_write(path) as out:
        out.write("new\n")
    assert path.read_text() == "new\n"
    assert sorted(os.listdir(tmp_path)) == [other.name, "run.trec"]


def test_a_live_process_temporary_file_of_another_target_is_left_alone(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stranger = tmp_path / f".other.txt.rankpipe-tmp-{int(dead.stdout)}"
    stranger.write_text("")
    assert remove_stale_temporaries(tmp_path / "out.txt") == []
    assert remove_stale_temporaries(tmp_path / "other.txt") == [stranger]


def test_written_together_renames_all_or_none(tmp_path: Path) -> None:
    run, ledger = tmp_path / "run.trec", tmp_path / "run.trec.cost.json"
    with pytest.raises(RuntimeError, match="ledger failed"), written_together():
        with atomic_write(run) as out:
            out.write("run\n")
        assert not run.exists()  # renamed only when the block ends
        raise RuntimeError("ledger failed")
    assert os.listdir(tmp_path) == []
    with written_together():
        for path in (run, ledger):
            with atomic_write(path) as out:
                out.write(path.name)
    assert sorted(os.listdir(tmp_path)) == ["run.trec", "run.trec.cost.json"]


KILLED_BETWEEN = """
import os, signal, sys
from rankpipe.atomic import atomic_write, written_together
with written_together():
    with atomic_write(sys.argv[1]) as out:
        out.write("run")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_kill_between_the_run_and_its_ledger_writes_neither(tmp_path: Path) -> None:
    run = tmp_path / "run.trec"
    subprocess.run([sys.executable, "-c", KILLED_BETWEEN, str(run)], check=False)
    assert not run.exists()
    with atomic_write(run) as out:
        out.write("run\n")
    assert os.listdir(tmp_path) == ["run.trec"]


def test_check_writable_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    check_writable(tmp_path / "new" / "deeper" / "run.trec", "--output")  # made when written
    assert not (tmp_path / "new").exists() and os.listdir(tmp_path) == ["file"]
    for path, reason in (
        (tmp_path, "is a directory"),
        (tmp_path / "file" / "run.trec", "is not a directory"),
        (tmp_path / "file" / "a" / "run.trec", "is not a directory"),
        (Path("/proc/rankpipe-test/run.trec"), "cannot write in /proc"),
    ):
        with pytest.raises(InputError) as error:
            check_writable(path, "--output")
        assert str(error.value).startswith(f"--output {path}: ")
        assert reason in str(error.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_check_writable_refuses_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write in"):
            check_writable(folder / "run.trec", "--cost")
    finally:
        folder.chmod(0o700)
