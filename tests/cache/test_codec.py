"""The codec table (rankpipe/cache/codec.py): one codec per request form of rankpipe.forms, each
form's judgment round trips through a row, a judgment of another form than its kind is refused,
and the on-disk format (keys, rows, checksums, schema) is byte-identical to schema 2's."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from rankpipe.cache import CODECS, Entry, SQLiteCache, check_entry, prompt_key
from rankpipe.cache.checks import read_row
from rankpipe.cache.codec import decode_row, encode_row
from rankpipe.data.types import Candidate, Query
from rankpipe.forms import FORMS
from rankpipe.judges.base import BlockJudgment, Judgment, SetJudgment

ENTRIES = {
    b"a" * 16: Entry("pair", "q1", ("d1", "d2"), Judgment(0.25, 10, 2, True), 1, 1000.5),
    b"b" * 16: Entry("pair", "q1", ("d2", "d1"), Judgment(0.5, 11, 0, False), 3, 1001.0),
    b"c" * 16: Entry(
        "block", "q1", ("d1", "d2", "d3"), BlockJudgment((2, 0, 1), 30, 5, 1), 1, 1002.0
    ),
    b"d" * 16: Entry(
        "set", "q1", ("d1", "d2", "d3"), SetJudgment((0.5, 0.25, 0.25), 7, 1, True), 2, 1003.0
    ),
}
ROWS = [
    (b"a" * 16, 1, "pair", "q1", '["d1", "d2"]', 0.25, 10, 2, 1, 0, 1, 1000.5, 346575828070541343),
    (b"b" * 16, 1, "pair", "q1", '["d2", "d1"]', 0.5, 11, 0, 0, 0, 3, 1001.0, 2632584504474131223),
    (b"c" * 16, 1, "block", "q1", '["d1", "d2", "d3"]', "[2, 0, 1]", 30, 5, 1, 1, 1, 1002.0,
     -5659268281371122362),
    (b"d" * 16, 1, "set", "q1", '["d1", "d2", "d3"]', "[0.5, 0.25, 0.25]", 7, 1, 1, 0, 2, 1003.0,
     -338064348470450217),
]  # fmt: skip
"""The rows schema 2 stores for ENTRIES (judge "judge:x#1"), as written before the cache was split
into a package: a change here orphans every existing cache."""


def test_every_request_form_has_exactly_one_codec() -> None:
    assert set(CODECS) == set(FORMS)
    for name, codec in CODECS.items():
        assert codec.form is FORMS[name]


@pytest.mark.parametrize("key", list(ENTRIES), ids=lambda key: ENTRIES[key].kind + key.decode())
def test_each_form_round_trips_through_a_row(key: bytes) -> None:
    entry = ENTRIES[key]
    row = encode_row(key, 1, "judge:x#1", entry, created=5.0)
    assert check_entry(entry) is None
    assert decode_row(row) == entry
    assert read_row(row, "judge:x#1") == entry
    assert read_row(row, "judge:other") == (
        "checksum mismatch (the row was altered after it was written)"
    )


def test_rows_keys_and_schema_are_byte_identical_to_schema_2(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with SQLiteCache(path) as cache:
        cache.put_many(ENTRIES, "judge:x#1")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT * FROM judgments ORDER BY key").fetchall() == ROWS
        assert db.execute("PRAGMA application_id").fetchone() == (0x726B7063,)
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
    with SQLiteCache(path) as cache:
        assert cache.get_many(list(ENTRIES)) == ENTRIES
    query = Query("q1", "what is \x1f thing \u00e9")
    shown = [Candidate("d1", "alpha 'x'"), Candidate("d2", 'beta "y"')]
    assert [prompt_key(kind, "judge:x#1", True, query, shown).hex() for kind in FORMS] == [
        "89d17119ab62d355d770e716c483fd61",
        "89d171193bba63eec8b933d30d4401ca",
        "89d17119424cefecd3428847754bd46a",
    ]
    assert prompt_key("pair", "judge:x#1", False, query, shown).hex() == (
        "123028c44db3eda6fd041d15281de902"
    )


@pytest.mark.parametrize(
    ("kind", "judgment", "says"),
    [
        ("block", Judgment(0.5), "a pairwise answer stored as block"),
        ("set", BlockJudgment((1, 0)), "a listwise answer stored as set"),
        ("pair", SetJudgment((0.5, 0.5)), "a setwise answer stored as pair"),
        ("pair", "0.5", "a str (no form's judgment) stored as pair"),
        ("point", Judgment(0.5), "unknown kind 'point'"),
    ],
)
def test_a_judgment_of_another_form_than_its_kind_is_refused(
    tmp_path: Path, kind: str, judgment: object, says: str
) -> None:
    entry = Entry(kind, "q", ("a", "b"), judgment)  # type: ignore[arg-type]
    assert check_entry(entry) == says
    refused = pytest.raises(RuntimeError, match=re.escape(says))
    with SQLiteCache(tmp_path / "c.sqlite") as cache, refused:
        cache.put_many({b"k" * 16: entry}, "j")


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (Entry("pair", "q", ("a", "b", "c"), Judgment(0.5)), "a pairwise answer over 3 docids"),
        (Entry("pair", "q", ("a", "b"), Judgment(float("nan"))), "p_a nan is not a probability"),
        (Entry("block", "q", ("a", "b"), BlockJudgment((0, 2))), "not a permutation of 2"),
        (Entry("block", "q", ("a", "b"), BlockJudgment((0, 1), repairs=-1)), "repairs -1"),
        (Entry("set", "q", ("a", "b"), SetJudgment((1.0,))), "1 set probabilities for 2"),
        (Entry("set", "q", ("a", "b"), SetJudgment((0.5, 0.6))), "sum to 1.1"),
        (Entry("set", "q", ("a", "b"), SetJudgment((1.5, -0.5))), "are not probabilities"),
        (Entry("pair", "q", ("a", "b"), Judgment(0.5, 1), attempts=0), "attempts 0"),
    ],
)
def test_each_codec_checks_its_own_ranges_and_shapes(entry: Entry, says: str) -> None:
    assert says in (check_entry(entry) or "")


def test_a_row_of_an_unknown_kind_or_an_unreadable_answer_is_named() -> None:
    row = list(encode_row(b"k" * 16, 1, "j", ENTRIES[b"c" * 16], 0.0))
    assert decode_row([*row[:2], "point", *row[3:]]) == "unknown kind 'point'"
    assert decode_row([*row[:5], "[2, 0", *row[6:]]).startswith("undecodable value")
    assert decode_row([*row[:8], 3, *row[9:]]) == "valid 3 is neither 0 nor 1"
