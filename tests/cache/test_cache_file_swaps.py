"""The file under a judgment cache: a cache used after close() says "closed" (never "damaged");
a cache whose file is replaced or removed while it is used stops with a clear error, leaving both
files sound; a write-ahead log left beside a replaced file is recognised by `cache check`; a
foreign SQLite file with a `judgments` table is not called an older rankpipe cache; of two
different answers to one prompt the first is kept."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from rankpipe.cache import Entry, SQLiteCache, stale_wal
from rankpipe.cli.main import main
from rankpipe.errors import ClosedError, InputError
from rankpipe.judges.base import Judgment

JUDGE = "fake:judge"


def entries(start: int, count: int, p_a: float = 0.75) -> dict[bytes, Entry]:
    return {
        f"key-{i:06d}".encode(): Entry("pair", "q1", (f"a{i}", f"b{i}"), Judgment(p_a, 10, 1))
        for i in range(start, start + count)
    }


def stored(path: Path) -> int:
    with SQLiteCache(path) as cache:
        count, problems = cache.check()
    assert problems == []
    return count


def test_a_closed_cache_says_closed_never_damaged(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    cache.put_many(entries(0, 3), JUDGE)
    cache.close()
    cache.close()  # twice is harmless
    for use in (
        lambda: cache.get_many([b"key-000000"]),
        lambda: cache.put_many(entries(3, 1), JUDGE),
        cache.stats,
        cache.check,
    ):
        with pytest.raises(ClosedError, match="this judgment cache is closed") as error:
            use()
        assert "damaged" not in str(error.value) and "clear" not in str(error.value)
    assert stored(tmp_path / "c.sqlite") == 3


def test_a_closed_reranker_says_closed(tmp_path: Path) -> None:
    from rankpipe.data.datasets import load_dataset
    from rankpipe.reranker import Reranker

    dataset = load_dataset("demo", 4)
    reranker = Reranker("sim", "heapsort", 2, qrels=dataset.qrels, cache=tmp_path / "c.sqlite")
    reranker.rerank(dataset.candidates[:1])
    reranker.close()
    with pytest.raises(Exception, match="closed") as error:  # the Reranker's own check, or ours
        reranker.rerank(dataset.candidates[1:2])
    assert "damaged" not in str(error.value)
    assert stored(tmp_path / "c.sqlite") > 0


def _other_cache(path: Path) -> None:
    with SQLiteCache(path) as other:
        other.put_many(entries(1000, 5, p_a=0.25), JUDGE)


@pytest.mark.parametrize("how", ["replaced", "removed", "moved-away"])
def test_a_file_swapped_under_a_running_cache_stops_it_and_both_files_stay_sound(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "c.sqlite"
    cache = SQLiteCache(path, commit_every_s=0.0)
    cache.put_many(entries(0, 200), JUDGE)  # committed: in the write-ahead log
    assert Path(f"{path}-wal").stat().st_size > 0
    if how == "replaced":
        _other_cache(tmp_path / "new.sqlite")
        os.replace(tmp_path / "new.sqlite", path)  # `mv new.sqlite c.sqlite`
    elif how == "removed":
        path.unlink()
    else:
        os.replace(path, tmp_path / "old.sqlite")  # `mv c.sqlite old.sqlite`
    with pytest.raises(InputError) as error:
        cache.put_many(entries(200, 3), JUDGE)
    what = "replaced by another file" if how == "replaced" else "removed (or moved away)"
    assert f"{path}: the cache file was {what}" in str(error.value)
    assert "rerun the same command" in str(error.value)
    with pytest.raises(InputError, match="while this process used it"):  # and stays stopped
        cache.get_many([b"key-000000"])
    cache.close()  # no error, and nothing written
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # no log left for the file now there
    if how == "replaced":
        assert stored(path) == 5  # the new file, untouched
    if how == "moved-away":
        assert stored(tmp_path / "old.sqlite") == 200  # the old file holds its committed rows


def test_a_stale_write_ahead_log_is_recognised_by_cache_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A process whose cache file is replaced and which is killed before it notices leaves its
    log beside the new file. Simulated by copying the log and shared memory files of a live
    connection, as they would be at a kill -9, back after the swap."""
    path = tmp_path / "c.sqlite"
    with SQLiteCache(path) as cache:
        cache.put_many(entries(0, 3000), JUDGE)
    live = SQLiteCache(path, commit_every_s=0.0)
    live.put_many(entries(5000, 50), JUDGE)  # in the log only
    shutil.copy(f"{path}-wal", tmp_path / "wal.kept")
    _other_cache(tmp_path / "new.sqlite")
    os.replace(tmp_path / "new.sqlite", path)
    live._db.close()  # killed: no checkpoint, no check
    shutil.copy(tmp_path / "wal.kept", f"{path}-wal")
    before = path.read_bytes()
    assert stale_wal(path)
    capsys.readouterr()
    assert main(["cache", "check", "--cache", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"its write-ahead log {path}-wal belongs to an earlier file at this path" in err
    assert f"mv {path}-wal {path}-wal.stale" in err and "cache clear" not in err
    assert path.read_bytes() == before and Path(f"{path}-wal").exists()  # nothing touched
    os.replace(f"{path}-wal", f"{path}-wal.stale")  # the advice
    Path(f"{path}-shm").unlink(missing_ok=True)
    assert main(["cache", "check", "--cache", str(path)]) == 0
    assert stored(path) == 5


def test_a_live_write_ahead_log_is_not_stale(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with SQLiteCache(path, commit_every_s=0.0) as cache:
        cache.put_many(entries(0, 100), JUDGE)
        assert Path(f"{path}-wal").stat().st_size > 0
        assert not stale_wal(path)


def test_a_foreign_file_with_a_judgments_table_is_not_an_older_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE judgments (id INTEGER PRIMARY KEY, verdict TEXT)")
        db.execute("INSERT INTO judgments (verdict) VALUES ('guilty')")
    db.close()
    before = path.read_bytes()
    with pytest.raises(InputError, match="not a rankpipe judgment cache") as error:
        SQLiteCache(path)
    assert "older rankpipe" not in str(error.value) and "cache clear" not in str(error.value)
    capsys.readouterr()
    assert main(["cache", "clear", "--cache", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a rankpipe judgment cache" in err and "older" not in err
    assert path.read_bytes() == before


def test_of_two_different_answers_the_first_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with SQLiteCache(path) as first, SQLiteCache(path) as second:
        first.put_many(entries(0, 1, p_a=0.9), JUDGE)
        first.flush()
        time.sleep(0.01)
        second.put_many(entries(0, 1, p_a=0.1), JUDGE)  # a nondeterministic server's 2nd answer
    with SQLiteCache(path) as cache:
        [entry] = cache.get_many([b"key-000000"]).values()
    assert entry.judgment.p_a == 0.9
