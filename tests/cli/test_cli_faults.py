"""The CLI under hostile conditions: SIGTERM (handled as Ctrl-C: pending answers committed, no
output half-written, exit 143), an empty $RANKPIPE_CACHE, a file-size limit while writing an
output (the file named, exit 1, the old output kept)."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import rankpipe.cache
from rankpipe.cli.main import main
from rankpipe.data.datasets import DEMO_DIR

DEMO_RUN, DEMO_QRELS = str(DEMO_DIR / "run.bm25.trec"), str(DEMO_DIR / "qrels.trec")
RERANK = ["rerank", "--dataset", "demo", "--strategy", "heapsort", "--top-k", "10"]
RERANK += ["--batch-size", "4"]


def cached_rows(cache: Path) -> int:
    """Judgments committed to the cache file (0 before the run has made its table)."""
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def inferences(cost: Path) -> int:
    return int(json.loads(cost.read_text())["total"]["inferences"])


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM is POSIX")
def test_sigterm_commits_pending_answers_and_exits_143(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process, with commits deferred for ever: only the interrupt path's flush can have
    stored the answers found in the file after SIGTERM."""
    whole = tmp_path / "whole.trec"
    assert main([*RERANK, "--judge", "sim", "--no-cache", "--output", str(whole)]) == 0
    total = inferences(Path(f"{whole}.cost.json"))
    opened = rankpipe.cache.SQLiteCache.__init__

    def never_commit(self, path, timeout_s=60.0, commit_every_s=1.0):  # noqa: ANN001, ANN202
        opened(self, path, timeout_s, commit_every_s=1e9)

    monkeypatch.setattr(rankpipe.cache.SQLiteCache, "__init__", never_commit)
    cache, output = tmp_path / "cache.sqlite", tmp_path / "run.trec"
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    capsys.readouterr()
    timer.start()
    argv = ["--judge", "sim:latency=0.05", "--cache", str(cache), "--output", str(output)]
    code = main([*RERANK, *argv])
    timer.join()
    err = capsys.readouterr().err
    assert code == 143 and err == "rankpipe rerank: terminated (SIGTERM)\n"
    assert not output.exists() and not Path(f"{output}.cost.json").exists()
    assert [p.name for p in tmp_path.iterdir() if "rankpipe-tmp" in p.name] == []
    finished = cached_rows(cache)
    assert 0 < finished < total
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back
    monkeypatch.undo()
    argv = ["--judge", "sim", "--cache", str(cache), "--output", str(output)]
    assert main([*RERANK, *argv]) == 0
    assert output.read_text() == whole.read_text()
    assert finished + inferences(Path(f"{output}.cost.json")) == total


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM is POSIX")
def test_the_real_command_exits_143_on_sigterm(tmp_path: Path) -> None:
    cache, output = tmp_path / "cache.sqlite", tmp_path / "run.trec"
    argv = ["--judge", "sim:latency=0.05", "--cache", str(cache), "--output", str(output)]
    process = subprocess.Popen(
        [sys.executable, "-m", "rankpipe", *RERANK, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not cache.exists() or cached_rows(cache) == 0:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert out == "" and err.endswith("rankpipe rerank: terminated (SIGTERM)\n")
    assert cached_rows(cache) > 0 and not output.exists()


def test_an_empty_rankpipe_cache_variable_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANKPIPE_CACHE", "")
    monkeypatch.chdir(tmp_path)
    code = main([*RERANK, "--judge", "sim", "--output", "run.trec"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "the environment variable RANKPIPE_CACHE is set but empty" in err
    assert "--cache" not in err and list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit):  # the help still shows
        main(["rerank", "--help"])
    assert "RANKPIPE_CACHE, which is empty" in " ".join(capsys.readouterr().out.split())
    assert main(["cache", "stats"]) == 2
    assert "RANKPIPE_CACHE is set but empty" in capsys.readouterr().err


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_a_file_size_limit_names_the_file_and_keeps_the_old_output(tmp_path: Path) -> None:
    output = tmp_path / "per-query.csv"
    output.write_text("precious\n")
    done = subprocess.run(
        [sys.executable, "-m", "rankpipe", "evaluate", DEMO_RUN, "--qrels", DEMO_QRELS]
        + ["--per-query", str(output)],
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=lambda: _limited(100),  # Python ignores SIGXFSZ: the write fails with EFBIG
    )
    assert done.returncode == 1
    assert done.stderr == f"rankpipe evaluate: error: {output}: File too large\n"
    assert output.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["per-query.csv"]


def test_a_cache_file_replaced_during_a_run_stops_it_with_both_files_sound(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cache, output, other = tmp_path / "cache.sqlite", tmp_path / "run.trec", tmp_path / "o.sqlite"
    assert main([*RERANK, "--judge", "sim", "--cache", str(other), "--output", str(output)]) == 0
    output.unlink()
    Path(f"{output}.cost.json").unlink()
    kept = cached_rows(other)

    def swap() -> None:
        while not cache.exists() or cached_rows(cache) == 0:
            time.sleep(0.02)
        os.replace(other, cache)  # `mv o.sqlite cache.sqlite` while the run writes

    swapper = threading.Thread(target=swap)
    swapper.start()
    argv = ["--judge", "sim:latency=0.05", "--cache", str(cache), "--output", str(output)]
    code = main([*RERANK, "--depth", "20", *argv])
    swapper.join()
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{cache}: the cache file was replaced by another file" in err
    assert not output.exists()
    wal = Path(f"{cache}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert cached_rows(cache) == kept  # the file moved in is whole, and sound
    assert main(["cache", "check", "--cache", str(cache)]) == 0
