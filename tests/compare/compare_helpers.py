"""Small strategies and a token-reporting judge decorator shared by the compare tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rankpipe.judges.base import Judgment, PairPrompt
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.strategies.base import Comparison, PairwiseRun


@dataclass
class Bubble:
    """`passes` bottom-up bubble passes, one comparison per round; later passes repeat some."""

    passes: int = 2
    name: ClassVar[str] = "bubble"

    def run(self, n: int, top_k: int) -> PairwiseRun:
        order = list(range(n))
        for _ in range(self.passes):
            for i in range(n - 1, 0, -1):
                p = yield [Comparison(order[i], order[i - 1])]
                if p[0] > 0.5:
                    order[i], order[i - 1] = order[i - 1], order[i]
        return order


@dataclass
class AllPairs:
    """Every pair in one round, ordered by wins."""

    name: ClassVar[str] = "all-pairs"

    def run(self, n: int, top_k: int) -> PairwiseRun:
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
        answers = yield [Comparison(a, b) for a, b in pairs]
        wins = [0.0] * n
        for (a, b), p in zip(pairs, answers, strict=True):
            wins[a] += p
            wins[b] += 1.0 - p
        return sorted(range(n), key=lambda i: -wins[i])


class WordCountingJudge:
    """The simulated judge's answers, reporting the words of each prompt as its prompt tokens
    and one completion token, so that token accounting can be checked (the simulated judge
    reports 0)."""

    def __init__(self, inner: SimulatedJudge) -> None:
        self.inner = inner
        self.identity, self.reads_text = inner.identity, inner.reads_text

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        answers = self.inner.judge(prompts)
        return [
            Judgment(
                j.p_a,
                prompt_tokens=len(f"{p.query.text} {p.a.text} {p.b.text}".split()),
                completion_tokens=1,
            )
            for p, j in zip(prompts, answers, strict=True)
        ]
