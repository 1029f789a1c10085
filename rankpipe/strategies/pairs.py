"""PairS: merge sort whose merges keep a beam of hypotheses where the judge is unsure.

Liu et al. 2024, "Aligning with Human Judgement: The Role of Pairwise Preference in Large Language
Model Evaluators" (COLM), PairS-beam:

    pairs:beam=2,gap=0.25,min_run=8,calibrate=false

Bottom-up merge sort, the merges of one level in parallel (as `mergesort`). A merge of two runs of
at least `min_run` candidates each keeps up to `beam` hypotheses (partial merged runs); smaller
merges keep one (on DL19 the beam in small merges mostly branches on equal grades and costs
inferences for little: eval/results/methods.md). Each hypothesis asks its next comparison; where
P(left beats right) lies within 0.5 +- `gap`, it branches into both outcomes, else it takes the
judged one (as the paper's `prob_gap`). The hypotheses of a merge ask in the same round, and the
`beam` most likely are kept; the merge returns the most likely. Likelihood: the paper scores a path
by its own comparisons; here every comparison judged in the merge, by any hypothesis, is evidence
for all of them, each scored log(2 P(the order the hypothesis implies)), so a wrong branch is
caught by the comparisons the right one asked (a comparison the judge called a tie weighs
nothing). Equal likelihoods keep the hypothesis that followed the tie rule (`Preferences`) first,
so `beam=1` is the plain merge sort, exact under a consistent judge.

`calibrate=true` asks each comparison in both orders and averages them, PRP's calibration of
position bias (the paper calibrates too); use it with `--orders one`, where it doubles the
inferences; under `--orders both` (the default) the second order is already known and costs
nothing.

Cost: a merge step asks at most `beam` comparisons (fewer where hypotheses share a pair or none is
unsure; hypotheses that reach the same state are merged, the likelier kept); at most beam x
(mergesort's comparisons), in mergesort's rounds. Top-k as `mergesort`:
a merge stops at top_k outputs, positions below top_k keep first-stage order."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rankpipe.strategies.base import Comparison, PairwiseRun
from rankpipe.strategies.preferences import Asking, Preferences
from rankpipe.strategies.procedures import Procedure, first_stage_below, in_parallel

FLOOR = 1e-3
"""Probabilities are clipped to [FLOOR, 1 - FLOOR] in likelihoods: a judged 0 or 1 costs a
hypothesis that contradicts it log(2 x FLOOR), not minus infinity."""


class BothOrders(Preferences):
    """Preferences that ask every new pair as (a, b) and (b, a) and keep the average."""

    def ask(self, pairs: Iterable[tuple[int, int]]) -> Asking:
        new: dict[frozenset[int], tuple[int, int]] = {}
        for a, b in pairs:
            if not self.known(a, b):
                new.setdefault(frozenset((a, b)), (a, b))
        if not new:
            return
        requests = [c for a, b in new.values() for c in (Comparison(a, b), Comparison(b, a))]
        answers = yield requests
        for index, (a, b) in enumerate(new.values()):
            forward, backward = answers[2 * index], answers[2 * index + 1]
            self._p[(a, b)] = (float(forward) + 1.0 - float(backward)) / 2.0


@dataclass
class PairS:
    name: ClassVar[str] = "pairs"
    beam: int = 2
    gap: float = 0.25
    min_run: int = 8
    calibrate: bool = False

    def __post_init__(self) -> None:
        if self.beam < 1:
            raise ValueError(f"beam must be at least 1, got {self.beam}")
        if self.min_run < 1:
            raise ValueError(f"min_run must be at least 1, got {self.min_run}")
        if not 0.0 <= self.gap <= 0.5:
            raise ValueError(f"gap must lie in [0, 0.5], got {self.gap}")

    def _beam(self, left: list[int], right: list[int]) -> int:
        return self.beam if min(len(left), len(right)) >= self.min_run else 1

    def run(self, n: int, top_k: int) -> PairwiseRun:
        known = BothOrders() if self.calibrate else Preferences()
        runs = [[i] for i in range(n)]
        while len(runs) > 1:
            merges = [
                _merge(
                    runs[i], runs[i + 1], top_k, known, self._beam(runs[i], runs[i + 1]), self.gap
                )
                for i in range(0, len(runs) - 1, 2)
            ]
            merged = yield from in_parallel(known, merges)
            runs = merged + runs[len(merges) * 2 :]
        order = runs[0] if runs else []
        return first_stage_below(order[:top_k], n)


@dataclass(frozen=True)
class _Hypothesis:
    """A partial merge: `out` taken so far, the next candidates at left[i] and right[j]."""

    out: tuple[int, ...]
    i: int
    j: int


def _merge(
    left: list[int], right: list[int], limit: int, known: Preferences, beam: int, gap: float
) -> Procedure[list[int]]:
    """The best `limit` candidates of two ordered runs, best first, by the most likely merge."""

    def done(h: _Hypothesis) -> bool:
        return len(h.out) >= limit or h.i == len(left) or h.j == len(right)

    asked: list[tuple[int, int]] = []
    hypotheses = [_Hypothesis((), 0, 0)]
    while not all(done(h) for h in hypotheses):
        needed = [(left[h.i], right[h.j]) for h in hypotheses if not done(h)]
        yield needed
        asked.extend(pair for pair in dict.fromkeys(needed) if pair not in asked)
        grown: list[_Hypothesis] = []
        for h in hypotheses:
            if done(h):
                grown.append(h)
                continue
            a, b = left[h.i], right[h.j]
            take_left = _Hypothesis((*h.out, a), h.i + 1, h.j)
            take_right = _Hypothesis((*h.out, b), h.i, h.j + 1)
            first, second = (
                (take_left, take_right) if known.beats(a, b) else (take_right, take_left)
            )
            grown.append(first)
            if abs(known.p(a, b) - 0.5) <= gap:
                grown.append(second)
        scores = [_likelihood(h, asked, known) for h in grown]
        ranked = sorted(range(len(grown)), key=lambda index: -scores[index])
        states: set[tuple[int, int]] = set()
        hypotheses = []
        for index in ranked:
            if (grown[index].i, grown[index].j) not in states and len(hypotheses) < beam:
                states.add((grown[index].i, grown[index].j))
                hypotheses.append(grown[index])
    best = hypotheses[0]
    return [*best.out, *left[best.i :], *right[best.j :]][:limit]


def _likelihood(h: _Hypothesis, asked: list[tuple[int, int]], known: Preferences) -> float:
    """Sum of log(2 P) over the judged pairs whose order the hypothesis decides (one of them
    taken: the taken one, or the earlier taken, is above)."""
    place = {c: rank for rank, c in enumerate(h.out)}
    total = 0.0
    for a, b in asked:
        if a not in place and b not in place:
            continue
        a_above = place.get(a, math.inf) < place.get(b, math.inf)
        p = known.p(a, b) if a_above else 1.0 - known.p(a, b)
        total += math.log(2.0 * min(max(p, FLOOR), 1.0 - FLOOR))
    return total
