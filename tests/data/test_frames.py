"""Candidates from DataFrames with PyTerrier's columns, and results back as one."""

from __future__ import annotations

import pandas as pd
import pytest

from rankpipe.data.datasets import Dataset
from rankpipe.data.frames import candidates_from_frame
from rankpipe.errors import InputError
from rankpipe.reranker import Reranker


def frame_of(demo: Dataset) -> pd.DataFrame:
    return pd.DataFrame(
        [
            (item.query.qid, item.query.text, c.docid, c.text, c.score, position)
            for item in demo.candidates
            for position, c in enumerate(item.candidates)
        ],
        columns=["qid", "query", "docno", "text", "score", "rank"],
    )


def test_a_frame_reads_as_the_same_candidates(demo: Dataset) -> None:
    assert candidates_from_frame(frame_of(demo)) == demo.candidates
    by_qid = {item.query.qid: item for item in demo.candidates}
    shuffled = frame_of(demo).sample(frac=1.0, random_state=3)  # order restored from `rank`
    assert {i.query.qid: i for i in candidates_from_frame(shuffled)} == by_qid
    by_score = frame_of(demo).drop(columns="rank").sample(frac=1.0, random_state=4)
    assert {i.query.qid: i for i in candidates_from_frame(by_score)} == by_qid

def test_round_trip_through_the_reranker(demo: Dataset) -> None:
    reranker = Reranker("sim:noise=0.1", "quickselect", qrels=demo.qrels, cache=None)
    from_list = reranker.rerank(demo.candidates)
    from_frame = reranker.rerank(frame_of(demo))
    assert from_frame.run == from_list.run
    out = from_frame.to_pandas()
    assert len(out) == len(frame_of(demo))
    back = candidates_from_frame(
        out.drop(columns=["score", "rank"]).rename(
            columns={"first_stage_score": "score", "first_stage_rank": "rank"}
        )
    )
    assert back == demo.candidates  # texts and first-stage scores and ranks survive
    reranked = candidates_from_frame(out)  # and the reranked order reads back as the run
    assert {i.query.qid: tuple(c.docid for c in i.candidates) for i in reranked} == {
        qid: r.docids for qid, r in from_frame.run.items()
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["text"]), "missing column"),
        (lambda f: f.drop(columns=["qid", "docno"]), r"missing column\(s\) qid, docno"),
        (lambda f: f.iloc[:0], "no rows"),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "lists docno d1-p03 more than once"),
        (lambda f: f.assign(text=f["text"].where(f.index != 3, "  ")), "empty text"),
        (lambda f: f.assign(text=f["text"].where(f.index != 3, None)), "empty text"),
        (lambda f: f.assign(query=f["query"].where(f.index != 3, "other")), "different texts"),
    ],
)
def test_bad_frames_are_input_errors(demo: Dataset, change, message: str) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match=message):
        candidates_from_frame(change(frame_of(demo)))


def test_evaluation_as_a_frame(demo: Dataset) -> None:
    from rankpipe.evaluation import evaluate

    result = Reranker("sim", "heapsort", qrels=demo.qrels, cache=None).rerank(demo.candidates)
    evaluation = evaluate(result.run, demo.qrels)
    frame = evaluation.to_pandas()
    assert list(frame.columns) == list(evaluation.aggregate)
    assert list(frame.index) == [*evaluation.per_query, "all"]
    assert frame.loc["all", "nDCG@10"] == evaluation.aggregate["nDCG@10"]
    assert frame.drop(index="all")["nDCG@10"].mean() == pytest.approx(frame.loc["all", "nDCG@10"])
