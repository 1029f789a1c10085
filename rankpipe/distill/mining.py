"""Mining: choose pairs of each training query's candidates and judge them through the executor.

Pair rules (`--pairs`), over positions in the candidates' order (first stage or a teacher's run):

| spec | pairs |
|---|---|
| `window:5,n=16[,seed=0]` | PairDistill's: (i, j) with j in (i, i+5], 16 sampled per query |
| `allpairs[:k=20]` | every pair of the top k (default: all candidates) |
| `strategy:NAME[+opt=val...][,top_k=10]` | the comparisons a strategy asks while reranking |

The window sample is drawn with a random generator seeded by (seed, qid), so a query gets the same
pairs whatever else is mined with it. All queries' pairs go through one `Executor.run` call, so
mining is batched across queries, cached (a killed run resumes with no repeated inference and
reuses judgments other runs left in the cache), and costed by the executor's ledger. Each query's
judged pairs are read from its own outcome (keyed by qid), whatever order queries ran in.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rankpipe.cache import Cache, open_cache
from rankpipe.cost import CostLedger
from rankpipe.data.types import QueryCandidates
from rankpipe.errors import InputError
from rankpipe.executor import Executor
from rankpipe.judges.base import Judge
from rankpipe.strategies.base import Comparison, Strategy, StrategyRun
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


@dataclass(frozen=True)
class PlannedPairs:
    """A strategy that asks one query's planned pairs in one round and keeps first-stage order."""

    plan: tuple[tuple[int, int], ...]
    name: str = "mining"

    def run(self, n: int, top_k: int) -> StrategyRun:
        if any(not (0 <= i < n and 0 <= j < n) for i, j in self.plan):
            raise RuntimeError(f"mining plan out of range for {n} candidates")
        if self.plan:
            yield [Comparison(i, j) for i, j in self.plan]
        return list(range(n))


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
    strategy: Strategy | dict[str, Strategy]
    if rule.kind == "strategy":
        strategy, top_k = make_strategy(rule.strategy), rule.top_k
    else:
        strategy = {
            item.query.qid: PlannedPairs(tuple(choose_pairs(
                len(item.candidates), rule, random.Random(f"{rule.seed}:{item.query.qid}")
            )))
            for item in items
        }
        top_k = 1
    executor = Executor(
        judge,
        cache=open_cache(cache),
        batch_size=batch_size,
        both_orders=both_orders,
        progress=progress,
    )
    results = executor.run(items, strategy, top_k)
    ledger = results.ledger
    queries = [
        MinedQuery(item, tuple(_distinct(results[item.query.qid].comparisons()))) for item in items
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
