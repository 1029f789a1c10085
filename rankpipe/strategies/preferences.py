"""What a pairwise strategy has learned: judged pairs, the tie rule, and asking only the unknown.

The tie rule: candidate a beats b when P(a beats b) > 0.5, and on a tie (exactly 0.5, e.g. equal
grades or two orders that disagree) when a comes first in the first-stage order. With a judge that
is consistent, `beats` is then a strict total order, so every exact strategy finds the same top-k,
and equal candidates keep their first-stage order."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence

from rankpipe.strategies.aggregate import Outcome, ScoredOrder
from rankpipe.strategies.base import Comparison

Asking = Generator[list[Comparison], list[float], None]
"""A round of comparisons, or none when everything asked is already known."""


def beats(a: int, b: int, p: float) -> bool:
    """Does candidate a beat b, given P(a beats b) = p? A tie goes to the earlier position."""
    return p > 0.5 or (p == 0.5 and a < b)


class Preferences:
    """P(a beats b) for every pair judged so far, readable in either order."""

    def __init__(self) -> None:
        self._p: dict[tuple[int, int], float] = {}

    def known(self, a: int, b: int) -> bool:
        return (a, b) in self._p or (b, a) in self._p

    def p(self, a: int, b: int) -> float:
        if (a, b) in self._p:
            return self._p[(a, b)]
        return 1.0 - self._p[(b, a)]

    def beats(self, a: int, b: int) -> bool:
        return beats(a, b, self.p(a, b))

    def ask(self, pairs: Iterable[tuple[int, int]]) -> Asking:
        """Ask the pairs not yet known as one round (`yield from` it) and remember the answers."""
        new: list[tuple[int, int]] = []
        chosen: set[frozenset[int]] = set()
        for a, b in pairs:
            if not self.known(a, b) and frozenset((a, b)) not in chosen:
                chosen.add(frozenset((a, b)))
                new.append((a, b))
        if not new:
            return
        answers = yield [Comparison(a, b) for a, b in new]
        for (a, b), p in zip(new, answers, strict=True):
            self._p[(a, b)] = float(p)

    def outcomes(self) -> list[Outcome]:
        """Every judged pair as (a, b, P(a beats b)), the input of an aggregator."""
        return [(a, b, p) for (a, b), p in self._p.items()]

    def order_by_wins(self, members: Sequence[int]) -> ScoredOrder:
        """Members ordered by wins against each other (a tie scores 1/2 each; equal scores keep
        first-stage order), with their wins. Exact for a consistent judge; every pair among members
        must be known."""
        score = {m: 0.0 for m in members}
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                p = self.p(a, b)
                won = 1.0 if p > 0.5 else 0.5 if p == 0.5 else 0.0
                score[a] += won
                score[b] += 1.0 - won
        order = sorted(members, key=lambda m: (-score[m], m))
        return ScoredOrder(order, [score[m] for m in order])
