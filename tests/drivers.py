"""Driving a strategy without an executor, the one copy every strategy test uses: every request form
answered from hidden grades (consistent judges), from seeded noise, or arbitrarily (inconsistent
ones); `pairwise` adapts a plain P(a beats b) function."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rankpipe.strategies.base import BestOf, BlockRequest, Comparison, Request, Strategy

Answer = Callable[[Request], object]


Prefer = Callable[[int, int], float]
"""P(candidate a beats candidate b), positions in first-stage order."""


@dataclass
class Driven:
    order: list[int]
    rounds: int = 0
    asked: list[Request] = field(default_factory=list)

    def count(self, kind: type) -> int:
        return sum(isinstance(r, kind) for r in self.asked)

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """The comparisons asked, as (a, b), in order."""
        return [(r.a, r.b) for r in self.asked if isinstance(r, Comparison)]

    @property
    def comparisons(self) -> int:
        return len(self.pairs)


def pairwise(prefer: Prefer) -> Answer:
    """An answer function for pairwise strategies from P(a beats b); any other request fails."""

    def answer(request: Request) -> object:
        assert isinstance(request, Comparison), f"a pairwise strategy asked {request}"
        return prefer(request.a, request.b)

    return answer


def drive(strategy: Strategy, n: int, top_k: int, answer: Answer) -> Driven:
    """Run a strategy to the end, answering each request with `answer`; checks every request."""
    run = strategy.run(n, top_k)
    driven = Driven([])
    answers: list[object] | None = None
    try:
        while True:
            requests = next(run) if answers is None else run.send(answers)
            assert requests, "a strategy must not yield an empty round"
            driven.rounds += 1
            for request in requests:
                members = (
                    (request.a, request.b) if isinstance(request, Comparison) else request.members
                )
                assert len(set(members)) == len(members) >= 2
                assert all(0 <= m < n for m in members)
            driven.asked.extend(requests)
            answers = [answer(r) for r in requests]
    except StopIteration as done:
        driven.order = list(done.value)
    return driven


def by_grades(grades: Sequence[int]) -> Answer:
    """A consistent judge of every form: the higher grade wins; ties 0.5, shared, or shown order."""

    def answer(request: Request) -> object:
        if isinstance(request, Comparison):
            a, b = grades[request.a], grades[request.b]
            return 1.0 if a > b else 0.0 if a < b else 0.5
        if isinstance(request, BlockRequest):
            return tuple(sorted(request.members, key=lambda m: -grades[m]))
        top = max(grades[m] for m in request.members)
        best = [grades[m] == top for m in request.members]
        return tuple(b / sum(best) for b in best)

    return answer


def noisy(grades: Sequence[int], noise: float, seed: int) -> Answer:
    """The sim judge's noise model on positions: each answer is wrong with probability `noise`,
    the same answer for the same request."""
    exact = by_grades(grades)

    def answer(request: Request) -> object:
        rng = random.Random(f"{seed}:{request}")
        right = exact(request)
        if rng.random() >= noise:
            return right
        if isinstance(request, Comparison):
            return 1.0 - float(right)  # type: ignore[arg-type]
        if isinstance(request, BlockRequest):
            shuffled = list(request.members)
            rng.shuffle(shuffled)
            return tuple(shuffled)
        pick = rng.randrange(len(request.members))
        return tuple(float(i == pick) for i in range(len(request.members)))

    return answer


def arbitrary(seed: int) -> Answer:
    """An inconsistent judge: any answer of the right shape, the same for the same request."""

    def answer(request: Request) -> object:
        rng = random.Random(f"{seed}:{request}")
        if isinstance(request, Comparison):
            return rng.choice([0.0, 0.5, 1.0, rng.random()])
        members = list(request.members)
        if isinstance(request, BlockRequest):
            rng.shuffle(members)
            return tuple(members)
        weights = [rng.random() for _ in members]
        return tuple(w / sum(weights) for w in weights)

    return answer


def ideal(grades: Sequence[int]) -> list[int]:
    """The true order: by grade, equal grades in first-stage order."""
    return sorted(range(len(grades)), key=lambda i: (-grades[i], i))


__all__ = [
    "BestOf",
    "Driven",
    "Prefer",
    "arbitrary",
    "by_grades",
    "drive",
    "ideal",
    "noisy",
    "pairwise",
]
