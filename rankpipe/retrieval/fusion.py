"""Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): a passage's fused score is the
sum, over the runs, of 1 / (k + its rank in that run), with ranks from 1 and k = 60; a run that does
not retrieve the passage adds nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rankpipe.data.types import Ranking, Run
from rankpipe.errors import InputError

RRF_K = 60


def reciprocal_rank_fusion(
    runs: Sequence[Mapping[str, Ranking]],
    k: int = RRF_K,
    depth: int | None = None,
    top: int | None = None,
) -> Run:
    """Fuse runs query by query (the union of their queries, in first-seen order).

    `depth` counts only the first `depth` passages of each run; `top` keeps the best `top` fused
    passages. Ties are broken by docid, descending, as trec_eval breaks them, so the written order
    is the evaluated order."""
    if not runs:
        raise InputError("nothing to fuse: give at least one run")
    if k < 0:
        raise InputError(f"the RRF constant k must be >= 0, got {k}")
    for name, value in (("depth", depth), ("top", top)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    qids = list(dict.fromkeys(qid for run in runs for qid in run))
    fused: Run = {}
    for qid in qids:
        scores: dict[str, float] = {}
        for run in runs:
            ranking = run.get(qid)
            if ranking is None:
                continue
            for rank, docid in enumerate(ranking.docids[:depth], start=1):
                scores[docid] = scores.get(docid, 0.0) + 1.0 / (k + rank)
        best = sorted(scores.items(), key=lambda item: item[0], reverse=True)
        best.sort(key=lambda item: item[1], reverse=True)
        best = best[:top]
        fused[qid] = Ranking(qid, tuple(d for d, _ in best), tuple(s for _, s in best))
    return fused
