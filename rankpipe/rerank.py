"""`rerank()`: one call of a `Reranker` that lives for that call (kept for scripts; a Reranker
reused across calls loads its judge once and holds one cache connection)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rankpipe.cache import Cache
from rankpipe.data.types import Qrels, QueryCandidates
from rankpipe.judges.base import Judge
from rankpipe.reranker import Reranker, RerankResult
from rankpipe.strategies.base import Strategy


def rerank(
    items: Sequence[QueryCandidates],
    judge: str | Judge,
    strategy: str | Strategy,
    top_k: int = 10,
    *,
    cache: str | Path | Cache | None = None,
    batch_size: int = 32,
    both_orders: bool = True,
    depth: int | None = None,
    qrels: Qrels | None = None,
    progress: bool = False,
) -> RerankResult:
    """Rerank the top `depth` candidates (all by default) of every query with `Reranker`; `cache`
    is a SQLite path, a Cache, or None for an in-memory cache (unlike Reranker's default, the
    CLI's SQLite file)."""
    with Reranker(
        judge,
        strategy,
        top_k,
        depth,
        cache=cache,
        batch_size=batch_size,
        orders="both" if both_orders else "one",
        qrels=qrels if isinstance(judge, str) else None,
        progress=progress,
    ) as reranker:
        return reranker.rerank(items)
