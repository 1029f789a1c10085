"""Faults injected into the judgment cache and the executor: each is detected and named, or
survived with nothing lost. The table of eval/results/cache.md lists them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from ask_rounds import AskRounds
from cache_helpers import TextJudge, queries

from rankpipe.cache import MemoryCache, SQLiteCache, prompt_key
from rankpipe.cli.main import main
from rankpipe.data.datasets import Dataset
from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.errors import InputError
from rankpipe.executor import Executor

ALL4 = [[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]]


def _filled(path: Path, judge: TextJudge | None = None) -> tuple[list[QueryCandidates], int]:
    """A cache file holding both orders of all pairs of 4 candidates of 2 queries (24 rows)."""
    items = queries(2, 4)
    cache = SQLiteCache(path)
    ledger = Executor(judge or TextJudge(), cache=cache).run(items, AskRounds(ALL4), 4).ledger
    cache.close()
    return items, int(ledger.total()["inferences"])


def _rerun(path: Path, items: list[QueryCandidates]) -> None:
    with SQLiteCache(path) as cache:
        Executor(TextJudge(), cache=cache).run(items, AskRounds(ALL4), 4)


# --- keys -------------------------------------------------------------------------------------


def test_the_separator_collision_pair_gets_two_inferences() -> None:
    query = Query("q", "query")
    first = QueryCandidates(query, (Candidate("a", "x\x1fy"), Candidate("b", "z")))
    second = QueryCandidates(query, (Candidate("a", "x"), Candidate("b", "y\x1fz")))
    judge, cache = TextJudge(), MemoryCache()
    for item in (first, second):
        Executor(judge, cache=cache, both_orders=False).run([item], AskRounds([[(0, 1)]]), 2)
    assert judge.shown == [("x\x1fy", "z"), ("x", "y\x1fz")]
    assert len(cache) == 2


def test_keys_differ_by_kind_judge_and_order() -> None:
    query, a, b = Query("q", "t"), Candidate("a", "x"), Candidate("b", "y")
    keys = {
        prompt_key("pair", "j", True, query, (a, b)),
        prompt_key("pair", "j", True, query, (b, a)),
        prompt_key("set", "j", True, query, (a, b)),
        prompt_key("pair", "k", True, query, (a, b)),
        prompt_key("pair", "j", False, query, (a, b)),
    }
    assert len(keys) == 5


# --- schema -----------------------------------------------------------------------------------


def test_an_old_format_cache_is_refused_and_clear_replaces_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE judgments (key TEXT PRIMARY KEY, value TEXT, judge TEXT)")
        db.execute("INSERT INTO judgments VALUES ('k', '{\"p_a\": 0.5}', 'sim')")
    with pytest.raises(InputError, match="older rankpipe.*rankpipe cache clear --cache"):
        SQLiteCache(path)
    assert main(["cache", "clear", "--cache", str(path)]) == 0
    assert "replaced an unreadable cache with an empty one" in capsys.readouterr().out
    items, total = _filled(path)
    assert total == 24


def test_a_foreign_database_is_refused_and_never_cleared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(InputError, match="not a rankpipe judgment cache.*invoices"):
        SQLiteCache(path)
    assert main(["cache", "clear", "--cache", str(path)]) == 2
    assert "not a rankpipe judgment cache" in capsys.readouterr().err
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("invoices",)]


def test_a_text_file_is_not_a_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("my notes, not a cache\n" * 20)
    with pytest.raises(InputError, match="notes.txt: not a rankpipe judgment cache"):
        SQLiteCache(path)
    assert main(["cache", "clear", "--cache", str(path)]) == 2
    assert path.read_text().startswith("my notes")


def test_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    _filled(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(InputError, match="schema 7.*reads schema 2.*cache clear --cache"):
        SQLiteCache(path)


def test_a_directory_is_not_a_cache(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        SQLiteCache(tmp_path)


def test_a_truncated_file_is_named_and_clear_recovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.sqlite"
    items = queries(20, 12)
    with SQLiteCache(path) as cache:
        Executor(TextJudge(), cache=cache).run(items, AskRounds(ALL4 * 3), 4)
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(InputError, match=f"{path}: the cache file is damaged.*cache clear"):
        _rerun(path, items)
    assert main(["cache", "check", "--cache", str(path)]) == 2
    assert main(["cache", "stats", "--cache", str(path)]) == 2
    capsys.readouterr()
    assert main(["cache", "clear", "--cache", str(path)]) == 0
    _rerun(path, items)


# --- rows -------------------------------------------------------------------------------------


def test_a_flipped_byte_in_a_row_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.sqlite"
    items, _ = _filled(path)
    data = path.read_bytes()
    where = data.index(b'["d1", "d2"]')  # one row's provenance, flipped in the file itself
    path.write_bytes(data[:where] + b'["d1", "d3"]' + data[where + 12 :])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)  # SQLite sees nothing
    with pytest.raises(InputError, match=r"damaged judgment \(key [0-9a-f]{32}, judge fake:text"):
        _rerun(path, items)
    assert main(["cache", "check", "--cache", str(path)]) == 2
    captured = capsys.readouterr()
    assert "checksum mismatch" in captured.out and "1 problems in 24 judgments" in captured.err
    assert main(["cache", "stats", "--cache", str(path)]) == 2
    assert "not healthy" in capsys.readouterr().err
    assert main(["cache", "clear", "--cache", str(path), "--judge", "fake:text"]) == 0
    assert main(["cache", "check", "--cache", str(path)]) == 0
    assert "0 judgments, all sound" in capsys.readouterr().out


@pytest.mark.parametrize("answer", [7.5, -3.0, float("inf"), "0.5"])
def test_an_out_of_range_value_with_a_matching_checksum_is_named(
    tmp_path: Path, answer: object
) -> None:
    """A row as a buggy writer would leave it: checksum right, value impossible."""
    from rankpipe.cache.keys import row_checksum

    path = tmp_path / "c.sqlite"
    items, _ = _filled(path)
    with sqlite3.connect(path) as db:
        row = list(db.execute("SELECT * FROM judgments LIMIT 1").fetchone())
        row[5] = answer
        row[12] = row_checksum("fake:text", row)
        db.execute("DELETE FROM judgments WHERE key = ?", (row[0],))
        db.execute(f"INSERT INTO judgments VALUES ({','.join('?' * 13)})", row)
    with pytest.raises(InputError, match="damaged judgment.*p_a .* is not a"):
        _rerun(path, items)


def test_negative_tokens_and_a_non_permutation_are_refused_on_write(tmp_path: Path) -> None:
    from rankpipe.cache import Entry
    from rankpipe.judges.base import BlockJudgment, Judgment

    with SQLiteCache(tmp_path / "c.sqlite") as cache:
        for entry in (
            Entry("pair", "q", ("a", "b"), Judgment(0.5, -1)),
            Entry("block", "q", ("a", "b", "c"), BlockJudgment((0, 0, 1))),
            Entry("pair", "q", ("a", "b"), Judgment(1.5)),
        ):
            with pytest.raises(RuntimeError, match="cannot be stored"):
                cache.put_many({b"k" * 16: entry}, "j")


def test_the_rerank_command_exits_2_naming_a_damaged_cache(
    demo: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, out = tmp_path / "c.sqlite", tmp_path / "run.trec"
    command = ["rerank", "--dataset", "demo", "--judge", "sim", "--strategy", "heapsort"]
    assert main([*command, "--cache", str(path), "--output", str(out)]) == 0
    with sqlite3.connect(path) as db:  # one answer changed behind the cache's back
        db.execute(
            "UPDATE judgments SET answer = 0.25 WHERE key = (SELECT min(key) FROM judgments)"
        )
    out.unlink()
    capsys.readouterr()
    assert main([*command, "--cache", str(path), "--output", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"{path}: damaged judgment" in error and "checksum mismatch" in error
    assert not out.exists()
