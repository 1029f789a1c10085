"""Mining: choose pairs of each training query's candidates and judge them through the executor.

Pair rules (`--pairs`), over positions in the candidates' order (first stage or a teacher's run):

| spec | pairs |
|---|---|
| `window:5,n=16[,seed=0]` | PairDistill's: (i, j) with j in (i, i+5], 16 sampled per query |
| `allpairs[:k=20]` | every pair of the top k (default: all candidates) |
| `strategy:NAME[+opt=val...][,top_k=10]` | the comparisons a strategy asks while reranking |

The window sample is drawn with a random generator seeded by (seed, qid), so a query gets the same
pairs whatever else is mined with it. All queries' pairs go through one `Executor.rerank` call, so
mining is batched across queries, cached (a killed run resumes with no repeated inference and
reuses judgments other runs left in the cache), and costed by the executor's ledger. The executor
starts its queries' strategies in the order of the items it is given; the strategies here rely on
that to know which query a run belongs to, and check it by the candidate count.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankpipe.cache import Cache, open_cache
from rankpipe.cost import CostLedger
from rankpipe.data.types import QueryCandidates
from rankpipe.errors import InputError
from rankpipe.executor import Executor
from rankpipe.judges.base import Judge
from rankpipe.strategies.base import Comparison, Request, Strategy, StrategyRun
from rankpipe.strategies.cascade import nested_spec
from rankpipe.strategies.registry import make_strategy

Pair = tuple[int, int, float]
"""(i, j, p): P(candidate i is more relevant than candidate j) by the teacher; i, j positions."""


@dataclass(frozen=True)
class PairRule:
    """Which pairs of a query's candidates to judge (see the module docstring)."""

    kind: str = "window"
    window: int = 5
    n: int = 16
    k: int | None = None
    strategy: str = ""
    top_k: int = 10
    seed: int = 0

    def __str__(self) -> str:
        if self.kind == "window":
            return f"window:{self.window},n={self.n},seed={self.seed}"
        if self.kind == "allpairs":
            return "allpairs" if self.k is None else f"allpairs:k={self.k}"
        return f"strategy:{self.strategy},top_k={self.top_k}"


def parse_pairs(spec: str) -> PairRule:
    """`window:5,n=16`, `allpairs:k=20` or `strategy:heapsort,top_k=10` as a PairRule."""
    kind, _, rest = spec.strip().partition(":")
    items = [p.strip() for p in rest.split(",") if p.strip()]
    expected = "window:W,n=N[,seed=S], allpairs[:k=K] or strategy:NAME[+opt=val...][,top_k=K]"
    if kind not in ("window", "allpairs", "strategy"):
        raise InputError(f"--pairs {spec!r}: unknown rule {kind!r}; expected {expected}")
    positional: list[str] = []
    options: dict[str, str] = {}
    if kind == "strategy" and items:  # the strategy spec may hold `=` (quickselect+pivots=2)
        positional.append(items.pop(0))
    for item in items:
        key, eq, value = item.partition("=")
        if eq:
            options[key.strip()] = value.strip()
        else:
            positional.append(item)
    allowed = {"window": {"n", "seed", "window"}, "allpairs": {"k"}, "strategy": {"top_k"}}[kind]
    unknown = set(options) - allowed
    if unknown or len(positional) > 1 or (kind == "allpairs" and positional):
        raise InputError(f"--pairs {spec!r}: expected {expected}")

    def number(name: str, default: int | None, least: int) -> int | None:
        raw = options.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InputError(f"--pairs {spec!r}: {name} must be an integer, got {raw!r}") from None
        if value < least:
            raise InputError(f"--pairs {spec!r}: {name} must be at least {least}, got {value}")
        return value

    if kind == "window":
        if positional:
            options["window"] = positional[0]
        return PairRule(
            "window",
            window=number("window", 5, 1) or 5,
            n=number("n", 16, 1) or 16,
            seed=number("seed", 0, 0) or 0,
        )
    if kind == "allpairs":
        return PairRule("allpairs", k=number("k", None, 2))
    if not positional:
        raise InputError(f"--pairs {spec!r}: name the strategy, e.g. strategy:heapsort")
    strategy = nested_spec(positional[0])
    make_strategy(strategy)  # a bad strategy spec is refused before any judging
    return PairRule("strategy", strategy=strategy, top_k=number("top_k", 10, 1) or 10)


def choose_pairs(n: int, rule: PairRule, rng: random.Random) -> list[tuple[int, int]]:
    """The pairs (i, j), i < j, that `rule` picks among n candidates (window and allpairs)."""
    if rule.kind == "allpairs":
        k = n if rule.k is None else min(rule.k, n)
        return [(i, j) for i in range(k) for j in range(i + 1, k)]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, min(i + rule.window, n - 1) + 1)]
    if len(pairs) > rule.n:
        pairs = sorted(rng.sample(pairs, rule.n))
    return pairs


@dataclass
class PlannedPairs:
    """A strategy that asks each query's planned pairs in one round and keeps first-stage order.

    `plans` holds one list of pairs per query, in the order the executor starts them."""

    plans: Sequence[Sequence[tuple[int, int]]]
    name: str = "mining"
    answers: list[list[Pair]] = field(default_factory=list)
    _next: Iterator[Sequence[tuple[int, int]]] | None = None

    def run(self, n: int, top_k: int) -> StrategyRun:
        if self._next is None:
            self._next = iter(self.plans)
        plan = list(next(self._next))
        record: list[Pair] = []
        self.answers.append(record)
        return self._ask(n, plan, record)

    @staticmethod
    def _ask(
        n: int, plan: list[tuple[int, int]], record: list[Pair]
    ) -> Generator[Sequence[Request], Sequence[Any], list[int]]:
        if any(not (0 <= i < n and 0 <= j < n) for i, j in plan):
            raise RuntimeError(f"mining plan out of range for {n} candidates")
        if plan:
            answers = yield [Comparison(i, j) for i, j in plan]
            record.extend((i, j, float(p)) for (i, j), p in zip(plan, answers, strict=True))
        return list(range(n))


@dataclass
class RecordingStrategy:
    """Wraps a strategy: forwards its rounds and answers unchanged and records every pairwise
    comparison it asked with its answer (one list per query, in the order the executor starts
    them)."""

    inner: Strategy
    answers: list[list[Pair]] = field(default_factory=list)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    def run(self, n: int, top_k: int) -> StrategyRun:
        record: list[Pair] = []
        self.answers.append(record)
        return self._forward(self.inner.run(n, top_k), record)

    @staticmethod
    def _forward(
        run: StrategyRun, record: list[Pair]
    ) -> Generator[Sequence[Request], Sequence[Any], list[int]]:
        try:
            requests = next(run)
            while True:
                answers = yield requests
                record.extend(
                    (r.a, r.b, float(p))
                    for r, p in zip(requests, answers, strict=True)
                    if isinstance(r, Comparison)
                )
                requests = run.send(answers)
        except StopIteration as done:
            return list(done.value)


@dataclass(frozen=True)
class MinedQuery:
    """One training query: its candidates and the teacher's judged pairs (positions into them)."""

    item: QueryCandidates
    pairs: tuple[Pair, ...]


@dataclass(frozen=True)
class Mined:
    queries: list[MinedQuery]
    ledger: CostLedger
    judge: str
    """The teacher judge's identity (its cache key prefix)."""
    rule: PairRule
    both_orders: bool


def mine_pairs(
    items: Sequence[QueryCandidates],
    judge: Judge,
    rule: PairRule,
    *,
    cache: str | Path | Cache | None = None,
    batch_size: int = 32,
    both_orders: bool = True,
    progress: bool = False,
) -> Mined:
    """Judge the pairs `rule` picks for every query, batched across queries and cached."""
    items = list(items)
    strategy: PlannedPairs | RecordingStrategy
    if rule.kind == "strategy":
        strategy, top_k = RecordingStrategy(make_strategy(rule.strategy)), rule.top_k
    else:
        plans = [
            choose_pairs(len(item.candidates), rule, random.Random(f"{rule.seed}:{item.query.qid}"))
            for item in items
        ]
        strategy, top_k = PlannedPairs(plans), 1
    executor = Executor(
        judge,
        cache=open_cache(cache),
        batch_size=batch_size,
        both_orders=both_orders,
        progress=progress,
    )
    _, ledger = executor.rerank(items, strategy, top_k)
    if len(strategy.answers) != len(items):
        raise RuntimeError(
            f"mining recorded {len(strategy.answers)} queries for {len(items)} given"
        )
    queries = [
        MinedQuery(item, tuple(_distinct(pairs)))
        for item, pairs in zip(items, strategy.answers, strict=True)
    ]
    return Mined(queries, ledger, judge.identity, rule, both_orders)


def _distinct(pairs: Sequence[Pair]) -> list[Pair]:
    """Each unordered pair once (a strategy may ask one twice; the executor answers alike)."""
    seen: set[frozenset[int]] = set()
    kept = []
    for i, j, p in pairs:
        key = frozenset((i, j))
        if key not in seen:
            seen.add(key)
            kept.append((i, j, p))
    return kept
