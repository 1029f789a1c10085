"""A scripted strategy shared by the executor and compare tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rankpipe.strategies.base import Comparison, PairwiseRun


@dataclass
class AskRounds:
    """Asks the given rounds of (a, b) comparisons, records the answers, keeps first-stage order."""

    rounds: Sequence[Sequence[tuple[int, int]]]
    name: ClassVar[str] = "ask-rounds"

    def run(self, n: int, top_k: int) -> PairwiseRun:
        self.answers: list[list[float]] = []
        for pairs in self.rounds:
            self.answers.append((yield [Comparison(a, b) for a, b in pairs]))
        return list(range(n))
