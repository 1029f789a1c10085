"""The store (rankpipe/cache/store.py): the judgments frame `SQLiteCache.to_pandas()`, and whoever
opens a cache closes it (`opened_cache`, mining from a path)."""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cache_helpers import queries

from rankpipe.cache import Entry, MemoryCache, SQLiteCache, opened_cache
from rankpipe.cache.codec import FRAME_COLUMNS
from rankpipe.distill.mining import PairRule, mine_pairs
from rankpipe.errors import InputError
from rankpipe.judges.base import BlockJudgment, Judgment, SetJudgment
from rankpipe.judges.simulated import SimulatedJudge

PAIR = Entry("pair", "q1", ("d1", "d2"), Judgment(0.25, 10, 2, True), 1, 1000.5)
BLOCK = Entry("block", "q1", ("d1", "d2", "d3"), BlockJudgment((2, 0, 1), 30, 5, 1), 1, 1002.0)
CHOICE = Entry("set", "q2", ("d3", "d1"), SetJudgment((0.5, 0.5), 7, 1, False), 2, 1003.0)


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "c.sqlite"
    with SQLiteCache(path) as cache:
        cache.put_many({b"a" * 16: PAIR, b"c" * 16: BLOCK}, "judge:list")
        cache.put_many({b"d" * 16: CHOICE}, "judge:set")
    return path


def test_to_pandas_has_one_row_per_judgment_with_its_form_s_answer(filled: Path) -> None:
    with SQLiteCache(filled) as cache:
        frame = cache.to_pandas()
    assert list(frame.columns) == [
        "key", "judge", "kind", "qid", "docids", "p_a", "order", "probs", "valid", "repairs",
        "attempts", "prompt_tokens", "completion_tokens", "created",
    ]  # fmt: skip
    assert list(frame.columns) == FRAME_COLUMNS
    rows = {row["kind"]: row for row in frame.to_dict("records")}
    assert rows["pair"] == {
        "key": (b"a" * 16).hex(),
        "judge": "judge:list",
        "kind": "pair",
        "qid": "q1",
        "docids": ["d1", "d2"],
        "p_a": 0.25,
        "order": None,
        "probs": None,
        "valid": True,
        "repairs": 0,
        "attempts": 1,
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "created": datetime.fromtimestamp(1000.5, timezone.utc),
    }
    block = rows["block"]
    assert (block["order"], block["repairs"], block["probs"]) == ([2, 0, 1], 1, None)
    assert math.isnan(block["p_a"])  # pandas holds the p_a column as floats: NaN, not None
    assert block["valid"] and block["prompt_tokens"] == 30
    choice = rows["set"]
    assert (choice["judge"], choice["qid"], choice["docids"]) == ("judge:set", "q2", ["d3", "d1"])
    assert (choice["probs"], choice["valid"], choice["attempts"]) == ([0.5, 0.5], False, 2)


def test_to_pandas_of_an_empty_cache_has_the_columns(tmp_path: Path) -> None:
    with SQLiteCache(tmp_path / "c.sqlite") as cache:
        frame = cache.to_pandas()
    assert len(frame) == 0 and list(frame.columns) == FRAME_COLUMNS


def test_to_pandas_refuses_a_damaged_row_naming_it(filled: Path) -> None:
    with sqlite3.connect(filled) as db:
        db.execute("UPDATE judgments SET qid = 'q9' WHERE kind = 'block'")
    with SQLiteCache(filled) as cache, pytest.raises(InputError) as refused:
        cache.to_pandas()
    message = str(refused.value)
    assert f"damaged judgment (key {(b'c' * 16).hex()}, judge judge:list, block q9)" in message
    assert "checksum mismatch" in message
    assert "rankpipe cache clear --cache" in message and "--judge 'judge:list'" in message


def test_opened_cache_closes_only_what_it_opened(tmp_path: Path) -> None:
    with opened_cache(tmp_path / "c.sqlite") as opened:
        assert isinstance(opened, SQLiteCache)
    assert opened._closed
    with SQLiteCache(tmp_path / "c.sqlite") as mine:
        with opened_cache(mine) as same:
            assert same is mine
        assert not mine._closed
    memory = MemoryCache()
    with opened_cache(memory) as same:
        assert same is memory
    with opened_cache(None) as fresh:
        assert isinstance(fresh, MemoryCache)


@pytest.mark.parametrize("rank_with", [None, "heapsort"])
def test_mining_closes_the_cache_it_opened_from_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rank_with: str | None
) -> None:
    closed: list[Path] = []
    close = SQLiteCache.close

    def recording_close(self: SQLiteCache) -> None:
        closed.append(self.path)
        close(self)

    monkeypatch.setattr(SQLiteCache, "close", recording_close)
    grades = {"q0": {"d0": 3, "d1": 1}}
    judge, path = SimulatedJudge(grades, noise=0.0), tmp_path / "c.sqlite"
    mined = mine_pairs(queries(1, 4), judge, PairRule("allpairs"), cache=path, rank_with=rank_with)
    assert mined.ledger.total()["inferences"] > 0
    assert closed == [path]
    with SQLiteCache(path) as cache:  # a cache passed in stays open
        mine_pairs(queries(1, 4), judge, PairRule("allpairs"), cache=cache, rank_with=rank_with)
        assert not cache._closed and cache.stats()
