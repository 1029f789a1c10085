"""Sparse pairwise reranking: a sample of the pairs in one round, aggregated into a full ordering.

Gienapp et al. 2022, "Sparse Pairwise Re-ranking with Pre-trained Transformers" (ICTIR), with their
three samplers, on positions in first-stage order and wrapping around at the end:

| sampler | each candidate is compared with |
|---|---|
| `random` | random others: pairs drawn uniformly from all n(n-1)/2 (seeded) |
| `window` | the next w candidates (their structured sampling) |
| `biased` | w candidates at log-spaced distances from 1 to n/2: near ones and some far ones |

and the aggregators of `rankpipe.strategies.aggregate` (winrate, borda, bradley-terry, pagerank,
kwiksort).
Budget: `per_candidate` comparisons for each candidate (n x per_candidate in total, so each
candidate takes part in about twice as many), or `budget` in total. Cost: at most that many
comparisons (never more than n(n-1)/2), in 1 round."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import ClassVar, Literal

from rankpipe.strategies.aggregate import AGGREGATORS, make_aggregator, order_by
from rankpipe.strategies.base import PairwiseRun
from rankpipe.strategies.preferences import Preferences

SAMPLERS = ("random", "window", "biased")
Pair = tuple[int, int]


@dataclass
class Sparse:
    name: ClassVar[str] = "sparse"
    sampler: Literal["random", "window", "biased"] = "window"
    agg: str = "winrate"
    per_candidate: float = 5.0
    budget: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.agg not in AGGREGATORS:
            raise ValueError(f"agg must be one of {', '.join(AGGREGATORS)}, got {self.agg!r}")
        if self.per_candidate <= 0 or (self.budget is not None and self.budget < 1):
            raise ValueError("the budget (per_candidate or budget) must be positive")

    def run(self, n: int, top_k: int) -> PairwiseRun:
        if n < 2:
            return list(range(n))
        total = self.budget if self.budget is not None else round(self.per_candidate * n)
        total = min(total, n * (n - 1) // 2)
        if self.sampler == "random":
            pairs = sample_random(n, total, random.Random(self.seed))
        else:
            pairs = sample_window(n, total, biased=self.sampler == "biased")
        known = Preferences()
        yield from known.ask(pairs)
        return order_by(make_aggregator(self.agg).scores(n, known.outcomes()))


def sample_random(n: int, total: int, rng: random.Random) -> list[Pair]:
    """`total` distinct pairs drawn uniformly."""
    every = [(a, b) for a in range(n) for b in range(a + 1, n)]
    return sorted(rng.sample(every, total))


def sample_window(n: int, total: int, biased: bool) -> list[Pair]:
    """Each candidate with the candidates at the window's distances after it (wrapping around);
    the nearest distances first, the top of the first stage first, until `total` pairs."""
    if n < 2:
        return []
    distances = _distances(n, math.ceil(total / n), biased)
    pairs: list[Pair] = []
    seen: set[Pair] = set()
    for distance in distances:
        for a in range(n):
            pair = (min(a, (a + distance) % n), max(a, (a + distance) % n))
            if pair not in seen:
                seen.add(pair)
                pairs.append(pair)
    return pairs[:total]


def _distances(n: int, width: int, biased: bool) -> list[int]:
    """`width` distinct distances, each giving n distinct pairs: the nearest ones, or log-spaced
    from 1 to (n-1)//2 when biased; all distances up to n//2 (every pair) when `width` is wider."""
    usable = (n - 1) // 2
    if width > usable:
        return list(range(1, n // 2 + 1))
    if not biased or width == 1:
        return list(range(1, width + 1))
    spaced = sorted({round(usable ** (i / (width - 1))) for i in range(width)})
    spare = (d for d in range(1, usable + 1) if d not in spaced)
    return sorted(spaced + [next(spare) for _ in range(width - len(spaced))])
