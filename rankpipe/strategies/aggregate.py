"""Aggregators: turn pairwise outcomes into one score per candidate (higher is better).

An outcome is (a, b, p): candidate a beat candidate b with probability p (1 a win, 0 a loss, 0.5 a
tie). Ties in score are broken by first-stage position (`order_by`).

| name | method |
|---|---|
| winrate | share of its comparisons a candidate won (Gienapp et al. 2022) |
| borda | number of wins, summed probabilities (Borda count) |
| bradley-terry | maximum-likelihood Bradley-Terry strengths; an L2 prior keeps them finite |
| pagerank | stationary probability of a random walk from losers to winners (damping 0.85) |
| kwiksort | KwikSort pivoting (Ailon et al. 2008) on observed majority preferences |

Bradley-Terry's L2 prior keeps the estimate finite under perfect separation; KwikSort keeps
first-stage order for unobserved pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from scipy.optimize import minimize

from rankpipe.errors import InputError

Outcome = tuple[int, int, float]


class Aggregator(Protocol):
    name: ClassVar[str]

    def scores(self, n: int, outcomes: Sequence[Outcome]) -> list[float]: ...


class ScoredOrder(list[int]):
    """An order (positions, best first) that carries the score of each position it lists,
    `scores[i]` that of `self[i]`: a strategy returns one so that its scores reach the output."""

    def __init__(self, order: Sequence[int], scores: Sequence[float]) -> None:
        super().__init__(order)
        self.scores = tuple(float(s) for s in scores)


def order_by(scores: Sequence[float]) -> ScoredOrder:
    """Positions sorted by descending score (equal scores keep first-stage order), with their
    scores."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return ScoredOrder(order, [scores[i] for i in order])


def _arrays(outcomes: Sequence[Outcome]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not outcomes:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
    a, b, p = zip(*outcomes, strict=True)
    return np.asarray(a, dtype=int), np.asarray(b, dtype=int), np.asarray(p, dtype=float)


@dataclass(frozen=True)
class WinRate:
    name: ClassVar[str] = "winrate"

    def scores(self, n: int, outcomes: Sequence[Outcome]) -> list[float]:
        a, b, p = _arrays(outcomes)
        wins = np.bincount(a, p, n) + np.bincount(b, 1 - p, n)
        games = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
        return list(np.divide(wins, games, out=np.full(n, 0.5), where=games > 0))


@dataclass(frozen=True)
class Borda:
    name: ClassVar[str] = "borda"

    def scores(self, n: int, outcomes: Sequence[Outcome]) -> list[float]:
        a, b, p = _arrays(outcomes)
        return list(np.bincount(a, p, n) + np.bincount(b, 1 - p, n))


@dataclass(frozen=True)
class BradleyTerry:
    """P(a beats b) = sigmoid(s_a - s_b); maximises the likelihood minus `l2`/2 * |s|^2."""

    name: ClassVar[str] = "bradley-terry"
    l2: float = 0.01

    def scores(self, n: int, outcomes: Sequence[Outcome]) -> list[float]:
        a, b, p = _arrays(outcomes)
        if not len(a):
            return [0.0] * n

        def loss(s: np.ndarray) -> tuple[float, np.ndarray]:
            d = s[a] - s[b]
            log_win, log_loss = -np.logaddexp(0, -d), -np.logaddexp(0, d)
            value = -(p * log_win + (1 - p) * log_loss).sum() + 0.5 * self.l2 * s @ s
            residual = p - 1 / (1 + np.exp(-d))
            grad = -np.bincount(a, residual, n) + np.bincount(b, residual, n) + self.l2 * s
            return float(value), grad

        result = minimize(loss, np.zeros(n), jac=True, method="L-BFGS-B")
        return list(result.x)


@dataclass(frozen=True)
class PageRank:
    name: ClassVar[str] = "pagerank"
    damping: float = 0.85
    iterations: int = 200

    def scores(self, n: int, outcomes: Sequence[Outcome]) -> list[float]:
        a, b, p = _arrays(outcomes)
        flow = np.zeros((n, n))  # flow[loser, winner]
        np.add.at(flow, (b, a), p)
        np.add.at(flow, (a, b), 1 - p)
        out = flow.sum(axis=1, keepdims=True)
        transition = np.divide(flow, out, out=np.full((n, n), 1.0 / max(n, 1)), where=out > 0)
        rank = np.full(n, 1.0 / max(n, 1))
        for _ in range(self.iterations):
            updated = (1 - self.damping) / n + self.damping * rank @ transition
            if np.abs(updated - rank).sum() < 1e-12:
                rank = updated
                break
            rank = updated
        return list(rank)


@dataclass(frozen=True)
class KwikSort:
    name: ClassVar[str] = "kwiksort"

    def scores(self, n: int, outcomes: Sequence[Outcome]) -> list[float]:
        preference: dict[tuple[int, int], float] = {}
        for a, b, p in outcomes:
            preference[(a, b)] = preference.get((a, b), 0.0) + p - 0.5
            preference[(b, a)] = preference.get((b, a), 0.0) + 0.5 - p
        order = self._sort(list(range(n)), preference)
        return [float(n - order.index(i)) for i in range(n)]

    def _sort(self, items: list[int], preference: dict[tuple[int, int], float]) -> list[int]:
        if len(items) <= 1:
            return items
        pivot, rest = items[0], items[1:]
        ahead = {i for i in rest if (preference.get((i, pivot), 0.0), pivot - i) > (0.0, 0)}
        before = [i for i in rest if i in ahead]
        after = [i for i in rest if i not in ahead]
        return self._sort(before, preference) + [pivot] + self._sort(after, preference)


AGGREGATORS: dict[str, type] = {
    cls.name: cls for cls in (WinRate, Borda, BradleyTerry, PageRank, KwikSort)
}


def make_aggregator(name: str) -> Aggregator:
    if name not in AGGREGATORS:
        raise InputError(f"unknown aggregator {name!r}; expected one of {', '.join(AGGREGATORS)}")
    return AGGREGATORS[name]()  # type: ignore[no-any-return]
