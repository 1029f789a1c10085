"""Rerank candidates with a judge and a strategy: the Python face of `rankpipe rerank`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rankpipe.cache import Cache, open_cache
from rankpipe.cost import CostLedger
from rankpipe.data.types import Qrels, QueryCandidates, Run
from rankpipe.executor import Executor
from rankpipe.judges.base import Judge
from rankpipe.judges.spec import make_judge
from rankpipe.strategies.base import Strategy
from rankpipe.strategies.registry import make_strategy


@dataclass(frozen=True)
class RerankResult:
    run: Run
    cost: CostLedger


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
    """Rerank the top `depth` candidates of every query; the strategy decides `top_k` positions.

    `judge` and `strategy` are spec strings (as on the CLI) or objects; `cache` is a SQLite path, a
    Cache, or None for an in-memory cache; `qrels` serve a `sim` judge that names no qrels file."""
    judge = make_judge(judge, qrels) if isinstance(judge, str) else judge
    strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
    items = [item.truncated(depth) for item in items] if depth else list(items)
    executor = Executor(
        judge,
        cache=open_cache(cache),
        batch_size=batch_size,
        both_orders=both_orders,
        progress=progress,
    )
    run, cost = executor.rerank(items, strategy, top_k)
    return RerankResult(run, cost)
