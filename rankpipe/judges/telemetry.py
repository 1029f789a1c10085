"""Judge telemetry: decorators that record the size and duration of every call to a judge.

They wrap a judge without changing its answers, identity or cache keys, so the executor batches and
caches through them as through the judge itself. The cost comparison fits its per-call time model
on what they record."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rankpipe.judges.base import BlockJudgment, BlockPrompt, Judge, Judgment, ListJudge, PairPrompt

CallKind = Literal["pair", "block"]


@dataclass(frozen=True)
class CallRecord:
    """One judge call: pairwise or listwise, how many prompts it held, and how long it took."""

    kind: CallKind
    prompts: int
    seconds: float


class TimedJudge:
    """A pairwise judge that appends a CallRecord to `log` for every call."""

    def __init__(self, judge: Judge, log: list[CallRecord]) -> None:
        self.inner = judge
        self.log = log

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def reads_text(self) -> bool:
        return self.inner.reads_text

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        started = time.perf_counter()
        judgments = self.inner.judge(prompts)
        self.log.append(CallRecord("pair", len(prompts), time.perf_counter() - started))
        return judgments


class TimedListJudge:
    """A listwise judge that appends a CallRecord to `log` for every call."""

    def __init__(self, judge: ListJudge, log: list[CallRecord]) -> None:
        self.inner = judge
        self.log = log

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def reads_text(self) -> bool:
        return self.inner.reads_text

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]:
        started = time.perf_counter()
        judgments = self.inner.rank(prompts)
        self.log.append(CallRecord("block", len(prompts), time.perf_counter() - started))
        return judgments
