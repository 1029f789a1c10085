"""Candidates and results as pandas DataFrames with PyTerrier's columns.

Candidates: one row per (query, passage) with `qid, query, docno, text` and, optionally, `score`
and `rank`. A query's first-stage order is its rows sorted by `rank` (ascending) where the frame
has one, else by `score` (descending), else the rows' order. Results: one row per reranked passage
with `qid, query, docno, text, score, rank, first_stage_score, first_stage_rank`; ranks count from
0 within each query, as PyTerrier's do (TREC files written by rankpipe count from 1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rankpipe.data.types import Candidate, Query, QueryCandidates, Ranking
from rankpipe.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

REQUIRED = ("qid", "query", "docno", "text")
RESULT_COLUMNS = (
    "qid",
    "query",
    "docno",
    "text",
    "score",
    "rank",
    "first_stage_score",
    "first_stage_rank",
)


def candidates_from_frame(frame: pd.DataFrame) -> list[QueryCandidates]:
    """One QueryCandidates per qid (in order of first appearance), in first-stage order."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(
            f"candidates DataFrame: missing column(s) {', '.join(missing)}; expected "
            f"{', '.join(REQUIRED)} (and optionally score, rank), got {', '.join(map(str, frame))}"
        )
    if frame.empty:
        raise InputError("candidates DataFrame: no rows")
    items = []
    for qid, rows in frame.groupby(frame["qid"].astype(str), sort=False):
        items.append(_query_candidates(str(qid), rows))
    return items


def _query_candidates(qid: str, rows: pd.DataFrame) -> QueryCandidates:
    if "rank" in rows.columns:
        rows = rows.sort_values("rank", kind="stable")
    elif "score" in rows.columns:
        rows = rows.sort_values("score", ascending=False, kind="stable")
    queries = rows["query"].astype(str).unique()
    if len(queries) != 1:
        raise InputError(f"candidates DataFrame: query {qid} has {len(queries)} different texts")
    docnos = rows["docno"].astype(str)
    twice = docnos[docnos.duplicated()].unique()
    if len(twice):
        raise InputError(
            f"candidates DataFrame: query {qid} lists docno {', '.join(twice[:3])} more than once"
        )
    scores = rows["score"] if "score" in rows.columns else [0.0] * len(rows)
    candidates = []
    for position, (docno, text, score) in enumerate(
        zip(docnos, rows["text"], scores, strict=True), start=1
    ):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"candidates DataFrame: query {qid}, docno {docno}: empty text")
        candidates.append(Candidate(docno, text, float(score), position))
    return QueryCandidates(Query(qid, str(queries[0])), tuple(candidates))


def results_frame(
    run: Mapping[str, Ranking], candidates: Sequence[QueryCandidates]
) -> pd.DataFrame:
    """The reranked run with its texts and first-stage scores and ranks, in PyTerrier's columns."""
    import pandas as pd

    rows = []
    for item in candidates:
        ranking = run[item.query.qid]
        first = {c.docid: (position, c) for position, c in enumerate(item.candidates)}
        for rank, (docid, score) in enumerate(zip(ranking.docids, ranking.scores, strict=True)):
            position, candidate = first[docid]
            rows.append(
                (
                    item.query.qid,
                    item.query.text,
                    docid,
                    candidate.text,
                    score,
                    rank,
                    candidate.score,
                    position,
                )
            )
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
