"""Topics (TSV) and corpora (TSV or JSONL): round trips, gzip, accepted field names, bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from file_checks import plain_and_gzipped, read_error
from hypothesis import given, settings
from hypothesis import strategies as st

from rankpipe.data.corpus import read_corpus, write_corpus
from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.topics import read_topics, write_topics
from rankpipe.data.types import Query

TOKEN = st.text(
    st.characters(exclude_categories=("Z", "Cc", "Cs"), exclude_characters="\ufeff"),
    min_size=1,
    max_size=8,
)
WORDS = st.lists(TOKEN, min_size=1, max_size=6).map(" ".join)
"""Text as a TSV field holds it: words separated by single spaces."""
ANY_TEXT = (
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40).map(str.strip).filter(bool)
)
"""Text as JSON holds it: tabs, newlines, U+2028 and all; readers strip the ends (and refuse a
passage with none)."""


@settings(max_examples=60, deadline=None)
@given(texts=st.dictionaries(TOKEN, WORDS, min_size=1, max_size=5))
def test_topics_round_trip(texts: dict[str, str]) -> None:
    topics = {qid: Query(qid, text) for qid, text in texts.items()}
    for path in plain_and_gzipped("topics.tsv"):
        write_topics(topics.values(), path)
        assert read_topics(path) == topics


def test_topics_writer_keeps_a_text_with_tabs_and_newlines_on_one_line(tmp_path: Path) -> None:
    write_topics([Query("q1", "what is\ta\nflea"), Query("q2", "two")], tmp_path / "topics.tsv")
    assert read_topics(tmp_path / "topics.tsv") == {
        "q1": Query("q1", "what is a flea"),
        "q2": Query("q2", "two"),
    }


@settings(max_examples=60, deadline=None)
@given(corpus=st.dictionaries(TOKEN, WORDS, min_size=1, max_size=5))
def test_tsv_corpus_round_trips(corpus: dict[str, str]) -> None:
    for path in plain_and_gzipped("corpus.tsv"):
        write_corpus(corpus, path)
        assert read_corpus(path) == corpus


@settings(max_examples=60, deadline=None)
@given(corpus=st.dictionaries(TOKEN, ANY_TEXT, min_size=1, max_size=5))
def test_jsonl_corpus_round_trips_any_text(corpus: dict[str, str]) -> None:
    for path in plain_and_gzipped("corpus.jsonl"):
        write_corpus(corpus, path)
        assert read_corpus(path) == corpus


def test_demo_topics_and_corpus_round_trip_and_read_gzipped(tmp_path: Path) -> None:
    topics, corpus = read_topics(DEMO_DIR / "topics.tsv"), read_corpus(DEMO_DIR / "corpus.tsv")
    assert len(topics) == 10 and len(corpus) == 200
    write_topics(topics.values(), tmp_path / "topics.tsv")
    write_corpus(corpus, tmp_path / "corpus.jsonl")
    assert read_topics(tmp_path / "topics.tsv") == topics
    assert read_corpus(tmp_path / "corpus.jsonl") == corpus
    (tmp_path / "corpus.tsv.gz").write_bytes(gzip.compress((DEMO_DIR / "corpus.tsv").read_bytes()))
    assert read_corpus(tmp_path / "corpus.tsv.gz") == corpus


@pytest.mark.parametrize("id_key", ["id", "_id", "docid"])
@pytest.mark.parametrize("text_key", ["text", "contents"])
def test_jsonl_corpus_field_names_and_title(tmp_path: Path, id_key: str, text_key: str) -> None:
    records = [
        {id_key: "d1", text_key: "Fleas live up to a year.", "title": "Flea life cycle"},
        {id_key: 7, text_key: "  No title here. ", "title": ""},
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert read_corpus(path) == {
        "d1": "Flea life cycle\n\nFleas live up to a year.",
        "7": "No title here.",
    }


def test_tsv_corpus_keeps_tabs_inside_the_text(tmp_path: Path) -> None:
    (tmp_path / "corpus.tsv").write_text("d1\tcolumn one\tcolumn two\n")
    assert read_corpus(tmp_path / "corpus.tsv") == {"d1": "column one\tcolumn two"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("q1\tfleas\nq2\n", "line 2 of {path}: expected 2 tab-separated fields (qid, text), got 1"),
        (
            "q1\tfleas\tand ticks\n",
            "line 1 of {path}: expected 2 tab-separated fields (qid, text), got 3",
        ),
        ("q1\tfleas\nq2\t   \n", "line 2 of {path}: query q2 has no text"),
        ("q1\tfleas\n\nq1\tticks\n", "line 3 of {path}: query q1 appears twice"),
        ("\n", "{path}: no topics"),
    ],
    ids=["one-field", "three-fields", "empty-text", "repeated-qid", "empty"],
)
def test_bad_topics(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "topics.tsv"
    assert read_error(read_topics, path, content) == message.format(path=path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "corpus.tsv",
            "d1\tfleas\nd2 no tab\n",
            "line 2 of {path}: expected `docid<TAB>text`, found no tab",
        ),
        ("corpus.tsv", "d1\tfleas\nd1\tticks\n", "line 2 of {path}: docid d1 appears twice"),
        (
            "corpus.jsonl",
            '{"id": "d1", "text": "x"}\n{"id": "d2", "text": \n',
            "line 2 of {path}: invalid JSON",
        ),
        ("corpus.jsonl", '["d1", "x"]\n', "line 1 of {path}: expected a JSON object"),
        ("corpus.jsonl", '{"id": "d1", "body": "x"}\n', "line 1 of {path}: expected an id field"),
        ("corpus.jsonl", "\n\n", "{path}: the corpus is empty"),
    ],
    ids=["no-tab", "duplicate", "invalid-json", "not-object", "no-text-field", "empty"],
)
def test_bad_corpus(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    error = read_error(read_corpus, path, content)
    assert error.startswith(message.format(path=path))
    assert "\n" not in error
