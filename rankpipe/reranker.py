"""`Reranker`: a judge, a strategy and a cache held together, reused across calls; the front door
that `rankpipe rerank`, `rerank()` (one call of a Reranker) and the PyTerrier transformer go
through.

    with Reranker("sim:noise=0.1", "quickselect", qrels=dl19.qrels) as reranker:
        result = reranker.rerank(dl19.candidates)      # or a DataFrame with PyTerrier's columns
    result.run, result.cost.totals.inferences, result.to_pandas()

Output scores carry what the strategy knows: where its order comes with scores (the aggregators of
allpairs, sparse and jointrank), those, in single precision with ties lowered by one step so that
tools sorting by score keep the order; else n, n-1, ..., 1 by rank. First-stage scores stay in
`candidates` (`first_stage`, and the `first_stage_score` column of `to_pandas()`)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from rankpipe.cache import Cache, MemoryCache, SQLiteCache, default_cache_path
from rankpipe.cost import CostLedger
from rankpipe.data.types import Qrels, QueryCandidates, Ranking, Run, run_from_candidates
from rankpipe.errors import InputError
from rankpipe.executor import Executor, Orders, Outcome, asks_both
from rankpipe.judges.base import Judge
from rankpipe.judges.spec import make_judge
from rankpipe.scheduler import Scheduler
from rankpipe.strategies.base import Strategy
from rankpipe.strategies.registry import make_strategy

if TYPE_CHECKING:
    import pandas as pd


class CacheDefault(Enum):
    """The cache `rankpipe rerank` uses: SQLite at `rankpipe.cache.default_cache_path()`."""

    DEFAULT = "default"


DEFAULT_CACHE = CacheDefault.DEFAULT


@dataclass(frozen=True)
class RerankResult:
    run: Run
    """qid -> the reranked Ranking (scores: see the module docstring)."""
    cost: CostLedger
    candidates: tuple[QueryCandidates, ...] = ()
    """What was reranked (texts, first-stage scores and ranks), cut to the Reranker's depth."""
    outcomes: Mapping[str, Outcome] = field(default_factory=dict)
    """qid -> the executor's Outcome: the strategy's order and scores, what it asked and was
    answered, its cost."""

    @property
    def first_stage(self) -> Run:
        """The first-stage run of the candidates, with their own scores."""
        return run_from_candidates(self.candidates)

    def to_pandas(self) -> pd.DataFrame:
        """qid, query, docno, text, score, rank, first_stage_score, first_stage_rank (ranks from
        0)."""
        from rankpipe.data.frames import results_frame

        return results_frame(self.run, self.candidates)


class Reranker:
    """Reranks the top `depth` candidates of every query; the strategy decides `top_k` positions.

    `judge` and `strategy` are spec strings (as on the CLI) or objects; `qrels` serve a `sim` judge
    spec that names no qrels file. `cache`: a SQLite path, a Cache, None or "memory" (in memory,
    for this Reranker only), or by default the CLI's SQLite cache. `orders`: "both" asks (A, B)
    and (B, A) and averages, "one" asks (A, B) (with `reuse_reversed`, a cached (B, A) may answer
    it: fewer inferences, but the output then depends on what the cache holds). The judge is loaded
    once and the cache connection held until `close()` (or the end of a `with` block)."""

    def __init__(
        self,
        judge: str | Judge,
        strategy: str | Strategy,
        top_k: int = 10,
        depth: int | None = 100,
        *,
        cache: str | Path | Cache | CacheDefault | None = DEFAULT_CACHE,
        batch_size: int = 32,
        orders: Orders = "both",
        reuse_reversed: bool = False,
        qrels: Qrels | None = None,
        progress: bool = False,
    ) -> None:
        both = asks_both(orders)
        if top_k < 1 or (depth is not None and depth < 1):
            raise InputError(f"top_k and depth must be at least 1, got {top_k} and {depth}")
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        if qrels is not None and not isinstance(judge, str):
            raise InputError("qrels serve a judge spec string; a judge object brings its own")
        self.judge = make_judge(judge, qrels) if isinstance(judge, str) else judge
        self.strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
        self.top_k, self.depth = top_k, depth
        self._owns_judge = isinstance(judge, str)
        self.cache, self._owns_cache = _open(cache)
        self._lock = threading.Lock()
        self._closed = False
        self._scheduler: Scheduler | None = None
        self._executor = Executor(
            self.judge,
            cache=self.cache,
            batch_size=batch_size,
            both_orders=both,
            reuse_reversed=reuse_reversed,
            progress=progress,
        )

    def rerank(self, candidates: Iterable[QueryCandidates] | pd.DataFrame) -> RerankResult:
        """Rerank QueryCandidates, or a DataFrame with PyTerrier's columns (qid, query, docno,
        text, and optionally score, rank). Safe to call from several threads at once: each call
        keeps its own state, and their waves take turns with the judge and the cache."""
        self._check_open()
        items = self._cut(candidates)
        results = self._executor.run(items, self.strategy, self.top_k)
        scored = {qid: _scored(outcome) for qid, outcome in results.items()}
        return RerankResult(scored, results.ledger, items, results.outcomes)

    def submit(
        self, item: QueryCandidates, strategy: Strategy | None = None, top_k: int | None = None
    ) -> Future[Outcome]:
        """Queue one query for continuous batching with every other query submitted meanwhile
        (from any thread); the future resolves to its Outcome as soon as its strategy finishes.
        `strategy` and `top_k` default to the Reranker's."""
        self._check_open()
        with self._lock:
            if self._scheduler is None:
                self._scheduler = Scheduler(self._executor)
            scheduler = self._scheduler
        item = item.truncated(self.depth) if self.depth else item
        return scheduler.submit(item, strategy or self.strategy, top_k or self.top_k)

    def judge_notice(self) -> str | None:
        """What a user should be told about the judge's weights (a packaged offline copy standing
        in for a hub model, say), if anything."""
        weights = getattr(self.judge, "weights", None)
        return getattr(weights, "notice", None) or None

    @property
    def scheduler(self) -> Scheduler | None:
        """The background scheduler behind `submit` (None until the first submit)."""
        return self._scheduler

    def close(self) -> None:
        """Finish submitted queries, then close the cache this Reranker opened (one handed to it
        stays open) and the judge it loaded from a spec (its model freed)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.close()
        if self._owns_cache and isinstance(self.cache, SQLiteCache):
            self.cache.close()
        if self._owns_judge and hasattr(self.judge, "close"):
            self.judge.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Reranker is closed; make a new one")

    def _cut(
        self, candidates: Iterable[QueryCandidates] | pd.DataFrame
    ) -> tuple[QueryCandidates, ...]:
        if hasattr(candidates, "columns"):
            from rankpipe.data.frames import candidates_from_frame

            candidates = candidates_from_frame(candidates)
        return tuple(item.truncated(self.depth) if self.depth else item for item in candidates)

    def __enter__(self) -> Reranker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _open(cache: str | Path | Cache | CacheDefault | None) -> tuple[Cache, bool]:
    """The cache, and whether this Reranker opened it (and so closes it)."""
    if cache is None or cache == "memory":
        return MemoryCache(), True
    if cache is DEFAULT_CACHE:
        return SQLiteCache(default_cache_path()), True
    if isinstance(cache, (str, Path)):
        return SQLiteCache(cache), True
    assert not isinstance(cache, CacheDefault)
    return cache, False


def _scored(outcome: Outcome) -> Ranking:
    """The outcome's ranking, with the strategy's scores where its order carries finite ones."""
    ranking = outcome.ranking
    if outcome.scores is None or not all(map(math.isfinite, outcome.scores)):
        return ranking
    return Ranking(ranking.qid, ranking.docids, strictly_falling(outcome.scores))


def strictly_falling(scores: Sequence[float]) -> tuple[float, ...]:
    """Scores in single precision (trec_eval, under ir-measures, reads them so), each tie (there)
    lowered by one single-precision step, so that tools that sort by score keep this order."""
    falling: list[np.float32] = []
    for score in np.asarray(scores, dtype=np.float32):
        if falling and score >= falling[-1]:
            score = np.nextafter(falling[-1], np.float32(-np.inf))
        falling.append(score)
    return tuple(float(s) for s in falling)


def rerank(
    candidates: Iterable[QueryCandidates] | pd.DataFrame,
    judge: str | Judge,
    strategy: str | Strategy,
    top_k: int = 10,
    depth: int | None = 100,
    **options: Any,
) -> RerankResult:
    """One call of a `Reranker` that lives for that call: the same arguments and defaults."""
    with Reranker(judge, strategy, top_k, depth, **options) as reranker:
        return reranker.rerank(candidates)
