"""Driving a strategy without an executor: a tiny loop answering each round from a hidden order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rankpipe.strategies.base import Comparison, Strategy

Prefer = Callable[[int, int], float]
"""P(candidate a beats candidate b), positions in first-stage order."""

EXACT = [
    "allpairs",
    "allpairs:agg=probabilities",
    "sliding",
    "heapsort",
    "heapsort:sift=sequential",
    "heapsort:sift=children",
    "quicksort",
    "quicksort:pivots=3,allpairs_size=4",
    "quickselect",
    "quickselect:pivots=2",
    "quickselect:allpairs_size=1,pivot_at=1",
    "mergesort",
    "mergesort:full=true",
    "tournament",
    "tournament:full=true",
    "quickselect:full=true",
]
"""Specs that find the exact top-k for any consistent judge (sliding with passes = top_k)."""

FULL_ORDERS = [
    "allpairs",
    "allpairs:agg=probabilities",
    "quicksort",
    "quicksort:pivots=3,allpairs_size=4",
    "mergesort:full=true",
]
"""Exact specs that order all n candidates."""

ANY = [
    *EXACT,
    "sliding:variant=odd-even",
    "sliding:passes=2,full=true",
    "sparse",
    "sparse:sampler=random,agg=bradley-terry,per_candidate=2",
    "sparse:sampler=biased,agg=pagerank",
    "sparse:agg=kwiksort,budget=7",
    "sparse:agg=borda",
]


@dataclass
class Driven:
    order: list[int]
    rounds: int = 0
    asked: list[tuple[int, int]] = field(default_factory=list)

    @property
    def comparisons(self) -> int:
        return len(self.asked)


def drive(strategy: Strategy, n: int, top_k: int, prefer: Prefer) -> Driven:
    """Run a strategy to the end, answering every comparison with `prefer`."""
    run = strategy.run(n, top_k)
    driven = Driven([])
    answers: list[float] | None = None
    try:
        while True:
            requests = next(run) if answers is None else run.send(answers)
            assert requests, "a strategy must not yield an empty round"
            driven.rounds += 1
            answers = []
            for request in requests:
                assert isinstance(request, Comparison)
                assert request.a != request.b and 0 <= request.a < n and 0 <= request.b < n
                driven.asked.append((request.a, request.b))
                answers.append(prefer(request.a, request.b))
    except StopIteration as done:
        driven.order = list(done.value)
    return driven


def by_grades(grades: Sequence[int]) -> Prefer:
    """A consistent judge: the higher grade wins, equal grades tie (0.5)."""

    def prefer(a: int, b: int) -> float:
        return 1.0 if grades[a] > grades[b] else 0.0 if grades[a] < grades[b] else 0.5

    return prefer


def ideal(grades: Sequence[int]) -> list[int]:
    """The true order: by grade, equal grades in first-stage order."""
    return sorted(range(len(grades)), key=lambda i: (-grades[i], i))
