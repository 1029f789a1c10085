"""PRP-Allpair: every pair in one round, ordered by score.

Qin et al. 2023, "Large Language Models are Effective Text Rankers with Pairwise Ranking Prompting".
Cost: n(n-1)/2 comparisons in 1 round (n(n-1) prompts with both orders). A full ordering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from rankpipe.strategies.aggregate import Borda, order_by
from rankpipe.strategies.base import PairwiseRun
from rankpipe.strategies.preferences import Preferences

AGGREGATES = ("wins", "probabilities")


@dataclass
class AllPairs:
    """Compare all pairs at once; score by `agg`:

    * `wins`: 1 per comparison won, 1/2 each on a tie (PRP's scoring of orders that disagree);
    * `probabilities`: the summed P(win) (Borda count).

    Equal scores keep first-stage order."""

    name: ClassVar[str] = "allpairs"
    agg: Literal["wins", "probabilities"] = "wins"

    def __post_init__(self) -> None:
        if self.agg not in AGGREGATES:
            raise ValueError(f"agg must be one of {', '.join(AGGREGATES)}, got {self.agg!r}")

    def run(self, n: int, top_k: int) -> PairwiseRun:
        known = Preferences()
        yield from known.ask((a, b) for a in range(n) for b in range(a + 1, n))
        if self.agg == "wins":
            return known.order_by_wins(range(n))
        return order_by(Borda().scores(n, known.outcomes()))
