"""rankpipe: rerank and evaluate search results with LLM pairwise judgments.

    import rankpipe
    dl19 = rankpipe.load_dataset("dl19")
    with rankpipe.Reranker("sim:noise=0.1", "quickselect", qrels=dl19.qrels) as reranker:
        result = reranker.rerank(dl19.candidates)
    rankpipe.evaluate(result.run, dl19.qrels).aggregate["nDCG@10"]

The names below are imported when first used, so `import rankpipe` stays cheap."""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "Reranker": "rankpipe.reranker",
    "rerank": "rankpipe.reranker",
    "RerankResult": "rankpipe.reranker",
    "load_dataset": "rankpipe.data.datasets",
    "evaluate": "rankpipe.evaluation.metrics",
    "read_run": "rankpipe.data.trec",
    "write_run": "rankpipe.data.trec",
    "read_qrels": "rankpipe.data.trec",
    "read_candidates": "rankpipe.data.candidates",
    "join_files": "rankpipe.data.candidates",
    "write_candidates": "rankpipe.data.candidates",
    "candidates_from_frame": "rankpipe.data.frames",
    "Candidate": "rankpipe.data.types",
    "Query": "rankpipe.data.types",
    "QueryCandidates": "rankpipe.data.types",
    "Ranking": "rankpipe.data.types",
    "Run": "rankpipe.data.types",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from rankpipe.data.candidates import join_files, read_candidates, write_candidates
    from rankpipe.data.datasets import load_dataset
    from rankpipe.data.frames import candidates_from_frame
    from rankpipe.data.trec import read_qrels, read_run, write_run
    from rankpipe.data.types import Candidate, Query, QueryCandidates, Ranking, Run
    from rankpipe.evaluation.metrics import evaluate
    from rankpipe.reranker import Reranker, RerankResult, rerank


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rankpipe' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names only (no module machinery)."""
    return sorted([*_EXPORTS, "__version__"])
