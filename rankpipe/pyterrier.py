"""rankpipe in PyTerrier pipelines (`pip install "rankpipe[pyterrier]"`): a transformer over
`Reranker`, and the demo or DL19 data in PyTerrier's shapes.

    bm25 = pt.Transformer.from_df(first_stage_frame(demo))     # or any retriever with texts
    pipeline = bm25 >> PairwiseReranker("sim:noise=0.1", "quickselect", qrels=demo.qrels)
    pt.Experiment([bm25, pipeline], topics_frame(demo), qrels_frame(demo.qrels), ["nDCG@10"])

Nothing here starts Java or Terrier: the transformer works on DataFrames alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from rankpipe.data.frames import REQUIRED, RESULT_COLUMNS
from rankpipe.data.types import Qrels, QueryCandidates
from rankpipe.extras import require
from rankpipe.reranker import Reranker, RerankResult

require("pyterrier", "pyterrier", "rankpipe.pyterrier")  # before it: one line naming the extra
import pyterrier as pt  # noqa: E402


class PairwiseReranker(pt.Transformer):
    """Reranks each query's retrieved passages (`qid, query, docno, text[, score, rank]`) with a
    judge and a strategy; returns them with the new `score` and `rank` (from 0), the first stage's
    as `first_stage_score` and `first_stage_rank`, and the input's other columns. Arguments are
    those of `Reranker` (or pass `reranker=`, to share one with other code). Each call's cost
    ledger is kept in `results` (`results[-1].cost`)."""

    def __init__(
        self,
        judge: Any = None,
        strategy: Any = None,
        *args: Any,
        reranker: Reranker | None = None,
        **options: Any,
    ) -> None:
        if reranker is None:
            reranker = Reranker(judge, strategy, *args, **options)
        self.reranker = reranker
        self.results: list[RerankResult] = []

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return pd.DataFrame(columns=[*RESULT_COLUMNS, *_extra(frame)])
        result = self.reranker.rerank(frame)
        self.results.append(result)
        out = result.to_pandas()
        extra = _extra(frame)
        if extra:
            keys = frame[["qid", "docno"]].astype(str)
            out = out.merge(pd.concat([keys, frame[extra]], axis=1), on=["qid", "docno"])
        return out

    def close(self) -> None:
        self.reranker.close()


def _extra(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in (*REQUIRED, *RESULT_COLUMNS)]


def first_stage_frame(candidates: Sequence[QueryCandidates]) -> pd.DataFrame:
    """Candidates as a retrieval result: qid, query, docno, text, score, rank (from 0)."""
    return pd.DataFrame(
        [
            (item.query.qid, item.query.text, c.docid, c.text, c.score, position)
            for item in candidates
            for position, c in enumerate(item.candidates)
        ],
        columns=["qid", "query", "docno", "text", "score", "rank"],
    )


def topics_frame(candidates: Sequence[QueryCandidates]) -> pd.DataFrame:
    """qid, query: the topics pt.Experiment runs a pipeline on."""
    return pd.DataFrame(
        [(item.query.qid, item.query.text) for item in candidates], columns=["qid", "query"]
    )


def qrels_frame(qrels: Qrels) -> pd.DataFrame:
    """qid, docno, label: the qrels pt.Experiment evaluates against."""
    return pd.DataFrame(
        [(qid, docno, label) for qid, labels in qrels.items() for docno, label in labels.items()],
        columns=["qid", "docno", "label"],
    )
