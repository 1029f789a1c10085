"""Fake judges and scripted strategies for the cache and executor fault tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.errors import JudgeError
from rankpipe.judges.base import Judgment, PairPrompt, SetJudgment, SetPrompt
from rankpipe.strategies.base import BestOf, StrategyRun


def queries(count: int, n: int) -> list[QueryCandidates]:
    return [
        QueryCandidates(
            Query(f"q{q}", f"query {q}"),
            tuple(Candidate(f"d{i}", f"text {q} {i}") for i in range(n)),
        )
        for q in range(count)
    ]


class TextJudge:
    """A pairwise judge that reads text: prefers the passage whose text sorts first; answers
    garbage (invalid, 0.5) while `broken`; raises JudgeError with the first `fail_after` answers
    of a batch as partial when set. Records every prompt it was shown."""

    identity = "fake:text"
    reads_text = True

    def __init__(self) -> None:
        self.broken = False
        self.fail_after: int | None = None
        self.shown: list[tuple[str, str]] = []

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        answers = []
        for prompt in prompts:
            if self.fail_after is not None and len(answers) == self.fail_after:
                raise JudgeError("server gone", partial=dict(enumerate(answers)))
            self.shown.append((prompt.a.text, prompt.b.text))
            if self.broken:
                answers.append(Judgment(0.5, 10, 3, valid=False))
            else:
                p = 1.0 if prompt.a.text < prompt.b.text else 0.0
                answers.append(Judgment(p, 10, 1))
        return answers


class FakeSetJudge:
    """A setwise judge (and pairwise, as every judge is): picks the shortest passage; uniform and
    invalid for sets holding a passage whose text is 'garbage'."""

    identity = "fake:set"
    reads_text = True

    def __init__(self) -> None:
        self.sets: list[tuple[str, ...]] = []

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        return [Judgment(0.5) for _ in prompts]

    def choose(self, prompts: Sequence[SetPrompt]) -> list[SetJudgment]:
        answers = []
        for prompt in prompts:
            texts = tuple(p.text for p in prompt.passages)
            self.sets.append(texts)
            if "garbage" in texts:
                answers.append(SetJudgment((1 / len(texts),) * len(texts), 20, 1, valid=False))
                continue
            best = min(range(len(texts)), key=lambda i: len(texts[i]))
            answers.append(SetJudgment(tuple(float(i == best) for i in range(len(texts))), 20, 1))
        return answers


@dataclass
class AskSets:
    """Asks the given sets in one round; records the probabilities; keeps first-stage order."""

    sets: Sequence[tuple[int, ...]]
    answers: list[list[tuple[float, ...]]] = field(default_factory=list)
    name: ClassVar[str] = "ask-sets"

    def run(self, n: int, top_k: int) -> StrategyRun:
        self.answers.append(list((yield [BestOf(members) for members in self.sets])))
        return list(range(n))
