"""RankGPT-style candidate files (JSONL or a JSON list); joining a run with texts into them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from file_checks import plain_and_gzipped, read_error
from hypothesis import given, settings
from hypothesis import strategies as st

from rankpipe.data.candidates import join_candidates, read_candidates, write_candidates
from rankpipe.data.corpus import read_corpus
from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.topics import read_topics
from rankpipe.data.trec import read_run
from rankpipe.data.types import Candidate, Query, QueryCandidates, Ranking, run_from_candidates
from rankpipe.errors import InputError

TOKEN = st.text(
    st.characters(exclude_categories=("Z", "Cc", "Cs"), exclude_characters="\ufeff"),
    min_size=1,
    max_size=8,
)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
QUERY_TEXT = TEXT.map(str.strip).filter(bool)
PASSAGE_TEXT = TEXT.filter(str.strip)


@st.composite
def candidate_sets(draw: st.DrawFn) -> list[QueryCandidates]:
    items = []
    for qid in draw(st.lists(TOKEN, min_size=1, max_size=3, unique=True)):
        docids = draw(st.lists(TOKEN, max_size=5, unique=True))
        candidates = tuple(
            Candidate(
                docid,
                draw(PASSAGE_TEXT),
                draw(st.floats(allow_nan=False, allow_infinity=False)),
                rank,
            )
            for rank, docid in enumerate(docids, start=1)
        )
        items.append(QueryCandidates(Query(qid, draw(QUERY_TEXT)), candidates))
    return items


@settings(max_examples=60, deadline=None)
@given(items=candidate_sets())
def test_candidates_round_trip(items: list[QueryCandidates]) -> None:
    """Any text (newlines, U+2028, quotes) and queries without hits survive, plain and gzipped."""
    for path in plain_and_gzipped("candidates.jsonl"):
        write_candidates(items, path)
        assert read_candidates(path) == items


def demo_items() -> list[QueryCandidates]:
    return join_candidates(
        read_run(DEMO_DIR / "run.bm25.trec"),
        read_corpus(DEMO_DIR / "corpus.tsv"),
        read_topics(DEMO_DIR / "topics.tsv"),
    )


def test_run_corpus_and_topics_join_into_candidates() -> None:
    items = demo_items()
    run = read_run(DEMO_DIR / "run.bm25.trec")
    corpus = read_corpus(DEMO_DIR / "corpus.tsv")
    assert [item.query.qid for item in items] == list(run)
    for item in items:
        assert [c.docid for c in item.candidates] == list(run[item.query.qid].docids)
        assert [c.rank for c in item.candidates] == list(range(1, 21))
        assert all(c.text == corpus[c.docid] for c in item.candidates)
    assert run_from_candidates(items) == run
    assert [
        len(item.candidates)
        for item in join_candidates(run, corpus, read_topics(DEMO_DIR / "topics.tsv"), 3)
    ] == [3] * 10


def test_json_list_jsonl_and_gzip_read_the_same(tmp_path: Path) -> None:
    items = demo_items()
    write_candidates(items, tmp_path / "candidates.jsonl")
    records = [
        json.loads(line) for line in (tmp_path / "candidates.jsonl").read_text().splitlines()
    ]
    (tmp_path / "candidates.json").write_text(json.dumps(records, indent=2))
    (tmp_path / "candidates.jsonl.gz").write_bytes(
        gzip.compress((tmp_path / "candidates.jsonl").read_bytes())
    )
    for name in ("candidates.jsonl", "candidates.json", "candidates.jsonl.gz"):
        assert read_candidates(tmp_path / name) == items


def test_rankgpt_records_hits_are_ordered_by_rank_and_qid_comes_from_hits(tmp_path: Path) -> None:
    """The RankGPT layout has no record-level qid; numeric ids and missing scores are accepted."""
    record = {
        "query": " how long do fleas live ",
        "hits": [
            {"qid": 19335, "docid": 8, "rank": 2, "score": 9.5, "content": "second"},
            {"qid": 19335, "docid": 3, "rank": 1, "content": "first"},
        ],
    }
    (tmp_path / "rankgpt.jsonl").write_text(json.dumps(record) + "\n")
    assert read_candidates(tmp_path / "rankgpt.jsonl") == [
        QueryCandidates(
            Query("19335", "how long do fleas live"),
            (Candidate("3", "first", 0.0, 1), Candidate("8", "second", 9.5, 2)),
        )
    ]


def hit(docid: str, **fields: object) -> dict[str, object]:
    return {"qid": "q1", "docid": docid, "rank": 1, "score": 1.0, "content": "text", **fields}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"query": "fleas", "hits": []', ""], "line 1 of {path}: invalid JSON"),
        ([{"query": "fleas"}], "line 1 of {path}: expected an object with `query` and `hits`"),
        ([{"query": "fleas", "hits": {"docid": "d1"}}], "line 1 of {path}: `hits` must be a list"),
        (
            [{"query": "fleas", "qid": "q1", "hits": [{"docid": "d1"}]}],
            "line 1 of {path}: hit 1 needs `docid` and `content`",
        ),
        (
            [{"query": "fleas", "hits": [hit("d1"), hit("d2", score="high")]}],
            "line 1 of {path}: hit 2 has a non-numeric score or rank",
        ),
        (
            [{"query": "fleas", "hits": [hit("d1"), hit("d1", rank=2)]}],
            "line 1 of {path}: query q1: docid d1 appears twice",
        ),
        ([{"query": "  ", "hits": [hit("d1")]}], "line 1 of {path}: query q1 has no text"),
        (
            [{"query": "fleas", "hits": []}],
            "line 1 of {path}: no qid (give `qid` on the record or on its hits)",
        ),
        (
            [{"query": "fleas", "hits": [hit("d1")]}, "", {"query": "ticks", "hits": [hit("d2")]}],
            "line 3 of {path}: query q1 appears twice (first at line 1)",
        ),
        (["", "  "], "{path}: no queries"),
    ],
    ids=[
        "invalid-json",
        "no-hits-key",
        "hits-not-list",
        "hit-fields",
        "score",
        "duplicate-docid",
        "empty-query",
        "no-qid",
        "repeated-query",
        "empty",
    ],
)
def test_bad_candidates(tmp_path: Path, lines: list[object], message: str) -> None:
    path = tmp_path / "candidates.jsonl"
    content = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    error = read_error(read_candidates, path, content + "\n")
    assert error.startswith(message.format(path=path))
    assert "\n" not in error


def test_json_list_errors_name_the_record(tmp_path: Path) -> None:
    path = tmp_path / "candidates.json"
    path.write_text(
        json.dumps(
            [{"query": "fleas", "hits": [hit("d1")]}, {"query": "", "qid": "q2", "hits": []}]
        )
    )
    with pytest.raises(InputError, match=r"^record 2 of .*candidates\.json: query q2 has no text$"):
        read_candidates(path)
    path.write_text('[{"query": "fleas",\n "hits": [}]')
    with pytest.raises(InputError, match=r"^line 2 of .*candidates\.json: invalid JSON"):
        read_candidates(path)


def test_join_reports_a_docid_missing_from_the_corpus_and_a_query_missing_from_the_topics() -> None:
    run = {"q1": Ranking("q1", ("d1", "d2"))}
    with pytest.raises(
        InputError, match="^docid d2 \\(query q1\\) of the run is not in the corpus$"
    ):
        join_candidates(run, {"d1": "one"}, {"q1": Query("q1", "fleas")})
    with pytest.raises(InputError, match="^query q1 of the run is not in the topics$"):
        join_candidates(run, {"d1": "one", "d2": "two"}, {"q2": Query("q2", "ticks")})
    # a docid below the depth cut is never looked up
    assert join_candidates(run, {"d1": "one"}, {"q1": Query("q1", "fleas")}, depth=1)[
        0
    ].candidates == (Candidate("d1", "one", 2.0, 1),)


def test_join_files_is_a_library_function_naming_the_files(tmp_path: Path) -> None:
    from rankpipe.data.candidates import join_files

    (tmp_path / "run.trec").write_text("q1 Q0 d1 1 2.0 r\nq1 Q0 d2 2 1.0 r\n")
    (tmp_path / "corpus.tsv").write_text("d1\tfirst passage\nd2\tsecond passage\n")
    (tmp_path / "topics.tsv").write_text("q1\ta query\n")
    items = join_files(tmp_path / "run.trec", tmp_path / "corpus.tsv", tmp_path / "topics.tsv", 1)
    assert [c.docid for c in items[0].candidates] == ["d1"] and items[0].query.text == "a query"
    (tmp_path / "corpus.tsv").write_text("d1\tfirst passage\n")
    with pytest.raises(InputError, match=r"docid d2 .* not in the corpus \(run .*run.trec, corpus"):
        join_files(tmp_path / "run.trec", tmp_path / "corpus.tsv", tmp_path / "topics.tsv")
