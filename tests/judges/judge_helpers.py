"""Shared by the judge tests: strategies that ask fixed requests and keep the answers they got,
and a decorator that counts a real judge's calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rankpipe.judges.base import BlockJudgment, BlockPrompt, Judgment, PairPrompt
from rankpipe.strategies.base import BlockRequest, Comparison, StrategyRun


@dataclass
class AskPairs:
    """Asks the (a, b) pairs in one round for every query, records the answers (one list per
    query, in the order queries started), and keeps the first-stage order."""

    pairs: Sequence[tuple[int, int]]
    answers: list[list[float]] = field(default_factory=list)
    name: ClassVar[str] = "ask-pairs"

    def run(self, n: int, top_k: int) -> StrategyRun:
        self.answers.append(list((yield [Comparison(a, b) for a, b in self.pairs])))
        return list(range(n))


@dataclass
class AskBlock:
    """Asks one block of the first `size` candidates and returns its answer, then the rest."""

    size: int
    name: ClassVar[str] = "ask-block"

    def run(self, n: int, top_k: int) -> StrategyRun:
        (order,) = yield [BlockRequest(tuple(range(self.size)))]
        return [*order, *range(self.size, n)]


class CountingJudge:
    """Decorates a real judge: counts the calls it gets and keeps every (prompt, answer) pair."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.identity, self.reads_text = inner.identity, inner.reads_text
        self.calls = 0
        self.seen: list[tuple[Any, Any]] = []

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        return self._record(prompts, self.inner.judge(prompts))

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]:
        return self._record(prompts, self.inner.rank(prompts))

    def _record(self, prompts: Sequence[Any], answers: list[Any]) -> list[Any]:
        self.calls += 1
        self.seen.extend(zip(prompts, answers, strict=True))
        return answers
