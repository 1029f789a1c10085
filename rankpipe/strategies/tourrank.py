"""TourRank: listwise group stages, the best of each group advancing, points summed over runs.

Chen et al. 2024, "TourRank: Utilizing Large Language Models for Documents Ranking with a
Tournament-Inspired Strategy":

    tourrank:tournaments=2,group=20,keep=0.5,seed=0

A tournament splits its candidates into groups of at most `group` (as equal as possible, after a
seeded shuffle), ranks each group listwise (`BlockRequest`, one inference), and advances the best
ceil(keep x size) of every group; each advance earns a point. Once at most `group` candidates are
left they are ranked as one final block, the candidate at place r of m earning (m - r) / m more.
`tournaments` tournaments run side by side, each with its own shuffles, and the final order is by
points summed over them (equal points keep first-stage order). Every stage of every tournament is
in the same round: about log(n / group) / log(1 / keep) + 1 rounds. A group is shown in
first-stage order.

Cost for the top 10 of 100 with the defaults: 5 + 3 + 2 + 1 = 11 listwise inferences per
tournament (100 -> 50 -> 27 -> 14 candidates, then the final block), in 4 rounds. Not exact: a
group of the second stage can hold more of the true top k than it advances."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import ClassVar

from rankpipe.strategies.aggregate import order_by
from rankpipe.strategies.base import BlockRequest, StrategyRun


@dataclass
class TourRank:
    name: ClassVar[str] = "tourrank"
    tournaments: int = 1
    group: int = 20
    keep: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.tournaments < 1:
            raise ValueError(f"tournaments must be at least 1, got {self.tournaments}")
        if self.group < 2:
            raise ValueError(f"group must be at least 2, got {self.group}")
        if not 0.0 < self.keep < 1.0:
            raise ValueError(f"keep must lie strictly between 0 and 1, got {self.keep}")

    def run(self, n: int, top_k: int) -> StrategyRun:
        points = [0.0] * n
        alive = {r: list(range(n)) for r in range(self.tournaments) if n > 1}
        shuffles = {r: random.Random(f"tourrank:{self.seed}:{r}") for r in alive}
        while alive:
            groups = [
                (r, g) for r, members in alive.items() for g in self._groups(members, shuffles[r])
            ]
            advanced: dict[int, list[int]] = {}
            for r, members in groups:
                if len(members) == 1:  # a bye
                    points[members[0]] += 1.0
                    advanced.setdefault(r, []).extend(members)
            groups = [(r, members) for r, members in groups if len(members) > 1]
            rankings = yield [BlockRequest(members) for _, members in groups]
            for (r, members), ranking in zip(groups, rankings, strict=True):
                if len(alive[r]) <= self.group:
                    for place, m in enumerate(ranking):
                        points[m] += (len(ranking) - place) / len(ranking)
                    continue
                best = list(ranking[: math.ceil(self.keep * len(members))])
                for m in best:
                    points[m] += 1.0
                advanced.setdefault(r, []).extend(best)
            alive = {r: sorted(members) for r, members in advanced.items()}
        return order_by(points)

    def _groups(self, members: list[int], rng: random.Random) -> list[tuple[int, ...]]:
        """Groups of at most `group` members, sizes as equal as possible, each in first-stage
        order; the members as one group when they fit."""
        if len(members) <= self.group:
            return [tuple(members)]
        shuffled = rng.sample(members, len(members))
        count = math.ceil(len(members) / self.group)
        return [tuple(sorted(shuffled[i::count])) for i in range(count)]
