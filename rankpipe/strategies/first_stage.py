"""The identity strategy: keep the first-stage order and ask nothing (a baseline and a no-op
check)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rankpipe.strategies.base import PairwiseRun


@dataclass
class FirstStage:
    name: ClassVar[str] = "first-stage"

    def run(self, n: int, top_k: int) -> PairwiseRun:
        yield from ()
        return list(range(n))
