"""TREC run files (6 columns) and qrels (4 columns, graded): round trips, gzip, and bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from file_checks import plain_and_gzipped, read_error
from hypothesis import given, settings
from hypothesis import strategies as st

from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.trec import read_qrels, read_run, write_qrels, write_run
from rankpipe.data.types import Ranking
from rankpipe.errors import InputError

# Identifiers as TREC files hold them: non-empty, no whitespace, no control characters.
TOKEN = st.text(
    st.characters(exclude_categories=("Z", "Cc", "Cs"), exclude_characters="\ufeff"),
    min_size=1,
    max_size=8,
)
SCORE = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def runs(draw: st.DrawFn) -> dict[str, Ranking]:
    """Runs whose rankings are ordered by score, best first, as `read_run` returns them."""
    qids = draw(st.lists(TOKEN, min_size=1, max_size=4, unique=True))
    run = {}
    for qid in qids:
        docids = draw(st.lists(TOKEN, min_size=1, max_size=6, unique=True))
        scores = sorted(
            draw(st.lists(SCORE, min_size=len(docids), max_size=len(docids))), reverse=True
        )
        run[qid] = Ranking(qid, tuple(docids), tuple(scores))
    return run


QRELS = st.dictionaries(TOKEN, st.dictionaries(TOKEN, st.integers(-1, 4), min_size=1), min_size=1)


@settings(max_examples=60, deadline=None)
@given(run=runs())
def test_run_round_trips(run: dict[str, Ranking]) -> None:
    for path in plain_and_gzipped("run.trec"):
        write_run(run, path)
        assert read_run(path) == run


@settings(max_examples=60, deadline=None)
@given(qrels=QRELS)
def test_qrels_round_trip(qrels: dict[str, dict[str, int]]) -> None:
    for path in plain_and_gzipped("qrels.txt"):
        write_qrels(qrels, path)
        assert read_qrels(path) == qrels


def test_demo_files_round_trip_and_read_gzipped(tmp_path: Path) -> None:
    run, qrels = read_run(DEMO_DIR / "run.bm25.trec"), read_qrels(DEMO_DIR / "qrels.trec")
    assert len(run) == 10 and all(len(r) == 20 for r in run.values())
    assert sum(len(labels) for labels in qrels.values()) == 200
    write_run(run, tmp_path / "run.trec")
    write_qrels(qrels, tmp_path / "qrels.txt")
    assert read_run(tmp_path / "run.trec") == run
    assert read_qrels(tmp_path / "qrels.txt") == qrels
    for name in ("run.bm25.trec", "qrels.trec"):  # gzip input made by gzip itself, not by rankpipe
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress((DEMO_DIR / name).read_bytes()))
    assert read_run(tmp_path / "run.bm25.trec.gz") == run
    assert read_qrels(tmp_path / "qrels.trec.gz") == qrels


def test_written_gz_files_are_gzip(tmp_path: Path) -> None:
    run = {"q1": Ranking("q1", ("d1", "d2"), (2.0, 1.0))}
    write_run(run, tmp_path / "run.trec.gz", tag="bm25")
    assert gzip.decompress((tmp_path / "run.trec.gz").read_bytes()).decode() == (
        "q1 Q0 d1 1 2.0 bm25\nq1 Q0 d2 2 1.0 bm25\n"
    )


def test_numpy_scores_are_written_as_plain_numbers(tmp_path: Path) -> None:
    """Aggregators return numpy floats; their repr (`np.float64(0.5)`) must not reach the file."""
    run = {"q1": Ranking("q1", ("d1", "d2"), (np.float64(0.75), np.float64(0.25)))}
    write_run(run, tmp_path / "run.trec")
    assert (tmp_path / "run.trec").read_text().split("\n")[0] == "q1 Q0 d1 1 0.75 rankpipe"
    assert read_run(tmp_path / "run.trec") == run


def test_run_is_ordered_by_score_ties_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "run.trec").write_text(
        "q1 Q0 low 1 1.0 t\nq1 Q0 high 2 3.5 t\nq1 Q0 tie-a 3 2.0 t\nq1 Q0 tie-b 4 2.0 t\n\n"
    )
    ranking = read_run(tmp_path / "run.trec")["q1"]
    assert ranking.docids == ("high", "tie-a", "tie-b", "low")
    assert ranking.scores == (3.5, 2.0, 2.0, 1.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0\n",
            "line 2 of {path}: expected 6 fields (qid Q0 docid rank score tag), got 5",
        ),
        (
            "q1 Q0 d1 1 2.0 t extra\n",
            "line 1 of {path}: expected 6 fields (qid Q0 docid rank score tag), got 7",
        ),
        (
            "q1 Q0 d1 1 2.0 t\n\nq1 Q0 d2 2 high t\n",
            "line 3 of {path}: score must be a number, got 'high'",
        ),
        ("q1 Q0 d1 first 2.0 t\n", "line 1 of {path}: rank must be an integer, got 'first'"),
        (
            "q1 Q0 d1 1 2.0 t\nq2 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n",
            "line 3 of {path}: docid d1 appears twice for query q1",
        ),
        ("\n  \n", "{path}: the run is empty"),
    ],
    ids=["too-few-fields", "too-many-fields", "score", "rank", "duplicate-docid", "empty"],
)
def test_bad_run_lines_are_reported_with_file_and_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "run.trec"
    assert read_error(read_run, path, content) == message.format(path=path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "q1 0 d1 1\nq1 0 d2\n",
            "line 2 of {path}: expected 4 fields (qid iter docid grade), got 3",
        ),
        (
            "q1 0 d1 1\nq1 0 d2 relevant\n",
            "line 2 of {path}: grade must be an integer, got 'relevant'",
        ),
        ("q1 0 d1 1.5\n", "line 1 of {path}: grade must be an integer, got '1.5'"),
        ("", "{path}: the qrels file is empty"),
    ],
    ids=["fields", "grade", "fractional-grade", "empty"],
)
def test_bad_qrels_lines_are_reported_with_file_and_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "qrels.txt"
    assert read_error(read_qrels, path, content) == message.format(path=path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^.*nowhere\.trec: no such file$"):
        read_run(tmp_path / "nowhere.trec")
    with pytest.raises(InputError, match="is a directory, not a file"):
        read_qrels(tmp_path)  # a folder is not a qrels file


def test_unreadable_content_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    not_gzip = tmp_path / "run.trec.gz"
    not_gzip.write_text("q1 Q0 d1 1 2.0 t\n")
    truncated = tmp_path / "cut.trec.gz"
    truncated.write_bytes(gzip.compress(b"q1 Q0 d1 1 2.0 t\n" * 50)[:-20])
    latin1 = tmp_path / "latin1.trec"
    latin1.write_bytes("q1 Q0 caf\xe9 1 2.0 t\n".encode("latin-1"))
    for path, reason in (
        (not_gzip, "cannot read it"),
        (truncated, "cannot read it"),
        (latin1, "not UTF-8"),
    ):
        with pytest.raises(InputError) as error:
            read_run(path)
        assert str(error.value).startswith(f"{path}: {reason}")
        assert "\n" not in str(error.value)
