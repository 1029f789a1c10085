"""The strategy interface: a ranking algorithm written as a generator of rounds.

A strategy sees candidates only as positions 0..n-1 in first-stage order. It yields a round, a list
of requests that do not depend on each other, and receives the answers in the same order:

* `Comparison(a, b)` is answered with P(candidate a is more relevant than candidate b);
* `BlockRequest(members)` is answered with the members reordered best first;
* `BestOf(members)` is answered with a tuple of probabilities, P(member i is the most relevant),
  from one setwise inference (Zhuang et al. 2024).

When done it returns the new order, a permutation of range(n). It never calls a judge, a cache or a
counter: the executor batches, caches and counts for it.

    def run(self, n, top_k):
        p = yield [Comparison(0, 1)]
        return [0, 1] if p[0] >= 0.5 else [1, 0]
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Comparison:
    """Is candidate `a` more relevant than candidate `b`? (positions in first-stage order)"""

    a: int
    b: int


@dataclass(frozen=True)
class BlockRequest:
    """Rank these candidates listwise, best first."""

    members: tuple[int, ...]


@dataclass(frozen=True)
class BestOf:
    """Which of these candidates is the most relevant? (one setwise inference; the members are
    shown in this order)"""

    members: tuple[int, ...]


Request = Comparison | BlockRequest | BestOf
PairwiseRun = Generator[list[Comparison], list[float], list[int]]
"""What a pairwise strategy's `run` returns."""
StrategyRun = Generator[Sequence[Request], Sequence[Any], list[int]]


class Strategy(Protocol):
    """Reranks n candidates; the first `top_k` positions of the returned order are the ones it
    decides."""

    name: str

    def run(self, n: int, top_k: int) -> StrategyRun: ...


def check_permutation(order: Sequence[int], n: int, strategy: str) -> list[int]:
    """Guard the executor against a strategy that returns something other than a permutation."""
    if sorted(order) != list(range(n)):
        raise RuntimeError(
            f"strategy {strategy} returned an order that is not a permutation of {n} candidates"
        )
    return list(order)


def relay(
    run: StrategyRun,
    out: Callable[[Request], Request],
    back: Callable[[Request, Any], Any],
) -> Generator[list[Request], Sequence[Any], list[int]]:
    """Drive another strategy's run round by round, its requests mapped by `out` and each answer
    mapped by `back(request, answer)` before it is sent in; returns the run's order. (The one
    place where a strategy drives another by hand; the executor drives all others.)"""
    try:
        requests = next(run)
        while True:
            answers = yield [out(r) for r in requests]
            requests = run.send([back(r, a) for r, a in zip(requests, answers, strict=True)])
    except StopIteration as done:
        return list(done.value)
