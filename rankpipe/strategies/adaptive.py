"""Adaptive pair sampling: each round asks the pairs that most reduce doubt about the top k.

Active ranking in the line of sparse pairwise reranking (Gienapp et al. 2022) and Bradley-Terry
active learning (e.g. Chen et al. 2013, "Pairwise ranking aggregation in a crowdsourced setting"):
a sparse strategy that, instead of a fixed sample, chooses each round's pairs from the current
estimate.

    adaptive:rounds=10,per_candidate=1.4,prior=0.2,pivot_at=1.5

The first round compares every candidate with the one at first-stage position
floor(`pivot_at` x k) (quickselect's pivot: every candidate gets one comparison that places it
against the top-k boundary; `pivot_at=0` skips it). The estimate is Bradley-Terry with a Gaussian
prior around the first-stage order (mean -`prior` x log(1 + position), unit variance), fitted by
Newton's method; its Laplace approximation gives each candidate's variance. A candidate's doubt is
the probability that it lies on the other side of the current top-k boundary (the midpoint of the
k-th and k+1-th estimates). Each unasked pair is worth q(1 - q) x (doubt_a + doubt_b), q the
predicted P(a beats b); the best are taken, each candidate in at most `spread` pairs of a round.
The budget, `per_candidate` x n comparisons (or `budget`), the pivot round's n-1 included, is spread
evenly over the other rounds; the final order is the Bradley-Terry estimate (ties in first-stage
order). Defaults tuned on DL19 with the sim judge at noise 0.1 (eval/results/methods.md).

The fit is written here, not taken from `aggregate.BradleyTerry`, because the choice needs the
posterior variances and a prior mean, which an aggregator does not give. Cost: at most the budget
in comparisons, in at most `rounds` rounds; `rounds` Newton fits of an n x n system per query."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rankpipe.strategies.aggregate import order_by
from rankpipe.strategies.base import PairwiseRun
from rankpipe.strategies.preferences import Preferences


@dataclass
class Adaptive:
    name: ClassVar[str] = "adaptive"
    rounds: int = 10
    per_candidate: float = 1.4
    budget: int | None = None
    prior: float = 0.2
    spread: int = 3
    pivot_at: float = 1.5

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.spread < 1:
            raise ValueError(
                f"rounds and spread must be at least 1, got {self.rounds}, {self.spread}"
            )
        if self.per_candidate <= 0 or (self.budget is not None and self.budget < 1):
            raise ValueError("the budget (per_candidate or budget) must be positive")
        if self.prior < 0:
            raise ValueError(f"prior must be at least 0, got {self.prior}")

    def run(self, n: int, top_k: int) -> PairwiseRun:
        if n < 2 or top_k < 1:
            return list(range(n))
        total = self.budget if self.budget is not None else round(self.per_candidate * n)
        total = min(total, n * (n - 1) // 2)
        mean = -self.prior * np.log1p(np.arange(n))
        known = Preferences()
        scores, variances = mean, np.ones(n)
        asked = 0
        if self.pivot_at > 0:
            pivot = min(n - 1, int(self.pivot_at * top_k))
            yield from known.ask((i, pivot) for i in range(n) if i != pivot)
            asked = n - 1
            scores, variances = fit(n, known, mean)
        for r in range(1 if self.pivot_at > 0 else 0, self.rounds):
            share = math.ceil((total - asked) / (self.rounds - r))
            pairs = self._choose(scores, variances, known, min(top_k, n - 1), share)
            if not pairs:
                break
            yield from known.ask(pairs)
            asked += len(pairs)
            scores, variances = fit(n, known, mean)
        return order_by(list(scores))

    def _choose(
        self,
        scores: np.ndarray,
        variances: np.ndarray,
        known: Preferences,
        top_k: int,
        wanted: int,
    ) -> list[tuple[int, int]]:
        n = len(scores)
        ranked = np.argsort(-scores, kind="stable")
        boundary = (scores[ranked[top_k - 1]] + scores[ranked[top_k]]) / 2
        doubt = _normal_tail(np.abs(scores - boundary) / np.sqrt(variances))
        a, b = np.triu_indices(n, 1)
        spread = np.sqrt(1 + math.pi * (variances[a] + variances[b]) / 8)
        q = 1 / (1 + np.exp(-(scores[a] - scores[b]) / spread))
        worth = q * (1 - q) * (doubt[a] + doubt[b])
        uses = np.zeros(n, dtype=int)
        chosen: list[tuple[int, int]] = []
        for index in np.argsort(-worth, kind="stable"):
            x, y = int(a[index]), int(b[index])
            if uses[x] >= self.spread or uses[y] >= self.spread or known.known(x, y):
                continue
            chosen.append((x, y))
            uses[x] += 1
            uses[y] += 1
            if len(chosen) == wanted:
                break
        return chosen


def fit(n: int, known: Preferences, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bradley-Terry MAP strengths under a N(mean, I) prior, and their Laplace variances."""
    outcomes = known.outcomes()
    a = np.array([o[0] for o in outcomes], dtype=int)
    b = np.array([o[1] for o in outcomes], dtype=int)
    p = np.array([o[2] for o in outcomes], dtype=float)
    s = mean.copy()
    for _ in range(50):
        win = 1 / (1 + np.exp(-(s[a] - s[b])))
        residual = p - win
        gradient = (s - mean) - np.bincount(a, residual, n) + np.bincount(b, residual, n)
        hessian = _hessian(n, a, b, win * (1 - win))
        step = np.linalg.solve(hessian, gradient)
        s -= step
        if np.abs(step).max() < 1e-6:
            break
    win = 1 / (1 + np.exp(-(s[a] - s[b])))
    return s, np.diag(np.linalg.inv(_hessian(n, a, b, win * (1 - win))))


def _hessian(n: int, a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    hessian = np.eye(n)
    np.add.at(hessian, (a, a), weight)
    np.add.at(hessian, (b, b), weight)
    np.add.at(hessian, (a, b), -weight)
    np.add.at(hessian, (b, a), -weight)
    return hessian


def _normal_tail(z: np.ndarray) -> np.ndarray:
    """P(Z > z) for a standard normal."""
    return 0.5 * np.vectorize(math.erfc)(z / math.sqrt(2))
