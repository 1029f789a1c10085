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

Teacher first (PairDistill): with `rank_with=STRATEGY`, each query's candidates are first ranked by
the teacher with that strategy (its `rank_top_k` positions decided), and the window or allpairs
rule then picks its pairs over the teacher's order, within its top `rule.k` (20 by default). Both
happen in one strategy run per query (`RankThenPairs`), so the pairs the ranking already asked are
answered by the executor without a new inference. The mined query's candidates are then in the
teacher's order, truncated to `keep` (the candidates trained on), and its pairs index that order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rankpipe.cache import Cache, opened_cache
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
            top = f",k={self.k}" if self.k is not None else ""
            return f"window:{self.window},n={self.n},seed={self.seed}{top}"
        if self.kind == "allpairs":
            return "allpairs" if self.k is None else f"allpairs:k={self.k}"
        return f"strategy:{self.strategy},top_k={self.top_k}"


def parse_pairs(spec: str) -> PairRule:
    """`window:5,n=16`, `allpairs:k=20` or `strategy:heapsort,top_k=10` as a PairRule."""
    kind, _, rest = spec.strip().partition(":")
    items = [p.strip() for p in rest.split(",") if p.strip()]
    expected = "window:W,n=N[,seed=S][,k=K], allpairs[:k=K] or strategy:NAME[+opt=val...][,top_k=K]"
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
    allowed = {"window": {"n", "seed", "window", "k"}, "allpairs": {"k"}, "strategy": {"top_k"}}[
        kind
    ]
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
            k=number("k", None, 2),
        )
    if kind == "allpairs":
        return PairRule("allpairs", k=number("k", None, 2))
    if not positional:
        raise InputError(f"--pairs {spec!r}: name the strategy, e.g. strategy:heapsort")
    strategy = nested_spec(positional[0])
    make_strategy(strategy)  # a bad strategy spec is refused before any judging
    return PairRule("strategy", strategy=strategy, top_k=number("top_k", 10, 1) or 10)


def choose_pairs(n: int, rule: PairRule, rng: random.Random) -> list[tuple[int, int]]:
    """The pairs (i, j), i < j, that `rule` picks among the first k of n candidates (window and
    allpairs; k = rule.k, all n when None)."""
    n = n if rule.k is None else min(rule.k, n)
    if rule.kind == "allpairs":
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
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
class RankThenPairs:
    """The teacher ranks a query's candidates with `strategy`, then the pairs `rule` picks over the
    teacher's order are asked (answered from the ranking's own comparisons where it asked them)."""

    strategy: Strategy
    rule: PairRule
    seed: str
    """The pair sample's random seed (the rule's seed and the qid)."""
    name: str = "teacher"

    def run(self, n: int, top_k: int) -> StrategyRun:
        order = yield from self.strategy.run(n, top_k)
        if len(order) != n:  # a bad order is the executor's to refuse
            return order
        pairs = self.planned(order)
        if pairs:
            yield [Comparison(a, b) for a, b in pairs]
        return order

    def planned(self, order: Sequence[int]) -> list[tuple[int, int]]:
        """The rule's pairs as positions into the candidates, i before j in the teacher's order."""
        chosen = choose_pairs(len(order), self.rule, random.Random(self.seed))
        return [(order[i], order[j]) for i, j in chosen]


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
    rank_with: str = ""
    """The strategy the teacher ranked each query with first ("" for none)."""


def mine_pairs(
    items: Sequence[QueryCandidates],
    judge: Judge,
    rule: PairRule,
    *,
    cache: str | Path | Cache | None = None,
    batch_size: int = 32,
    both_orders: bool = True,
    progress: bool = False,
    rank_with: str | None = None,
    rank_top_k: int = 20,
    keep: int | None = None,
) -> Mined:
    """Judge the pairs `rule` picks for every query, batched across queries and cached; with
    `rank_with` (a strategy spec), over the teacher's order of each query's candidates, which the
    mined queries keep (their first `keep` candidates). A cache opened here (from a path) is
    closed before this returns."""
    with opened_cache(cache) as store:
        return _mine_pairs(
            list(items),
            judge,
            rule,
            store,
            batch_size,
            both_orders,
            progress,
            rank_with,
            rank_top_k,
            keep,
        )


def _mine_pairs(
    items: list[QueryCandidates],
    judge: Judge,
    rule: PairRule,
    cache: Cache,
    batch_size: int,
    both_orders: bool,
    progress: bool,
    rank_with: str | None,
    rank_top_k: int,
    keep: int | None,
) -> Mined:
    if rank_with:
        return _mine_teacher_ranked(
            items,
            judge,
            rule,
            rank_with,
            rank_top_k,
            keep,
            Executor(
                judge,
                cache=cache,
                batch_size=batch_size,
                both_orders=both_orders,
                progress=progress,
            ),
        )
    strategy: Strategy | dict[str, Strategy]
    if rule.kind == "strategy":
        strategy, top_k = make_strategy(rule.strategy), rule.top_k
    else:
        strategy = {
            item.query.qid: PlannedPairs(
                tuple(
                    choose_pairs(
                        len(item.candidates), rule, random.Random(f"{rule.seed}:{item.query.qid}")
                    )
                )
            )
            for item in items
        }
        top_k = 1
    executor = Executor(
        judge,
        cache=cache,
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


def _mine_teacher_ranked(
    items: list[QueryCandidates],
    judge: Judge,
    rule: PairRule,
    rank_with: str,
    rank_top_k: int,
    keep: int | None,
    executor: Executor,
) -> Mined:
    if rule.kind == "strategy":
        raise InputError(
            "rank_with: the pairs over the teacher's order need a window or allpairs rule"
        )
    if keep is not None and keep < 2:
        raise InputError(f"keep must be at least 2 candidates, got {keep}")
    ranker = make_strategy(nested_spec(rank_with))
    plans = {
        item.query.qid: RankThenPairs(ranker, rule, f"{rule.seed}:{item.query.qid}")
        for item in items
    }
    results = executor.run(items, plans, rank_top_k)
    queries = []
    for item in items:
        outcome = results[item.query.qid]
        queries.append(
            _in_teacher_order(
                item,
                outcome.order,
                outcome.comparisons(),
                plans[item.query.qid].planned(outcome.order),
                keep,
            )
        )
    return Mined(queries, results.ledger, judge.identity, rule, executor.both_orders, rank_with)


def _in_teacher_order(
    item: QueryCandidates,
    order: Sequence[int],
    asked: Sequence[Pair],
    planned: Sequence[tuple[int, int]],
    keep: int | None,
) -> MinedQuery:
    """The query with its candidates in the teacher's order (the first `keep`) and the planned
    pairs' answers, re-indexed to that order."""
    answers: dict[tuple[int, int], float] = {}
    for a, b, p in asked:
        answers.setdefault((a, b), p)
        answers.setdefault((b, a), 1.0 - p)
    kept = list(order[:keep] if keep else order)
    where = {position: new for new, position in enumerate(kept)}
    pairs = tuple(
        (where[a], where[b], answers[(a, b)])
        for a, b in planned
        if a in where and b in where and (a, b) in answers
    )
    candidates = tuple(item.candidates[position] for position in kept)
    return MinedQuery(QueryCandidates(item.query, candidates), pairs)


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
