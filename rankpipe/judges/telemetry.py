"""Judge telemetry: decorators that record the size and duration of every call to a judge.

They wrap a judge without changing its answers, identity or cache keys, so the executor batches and
caches through them as through the judge itself. The cost comparison fits its per-call time model
on what they record."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from rankpipe.judges.base import BlockJudgment, BlockPrompt, Judge, Judgment, ListJudge, PairPrompt

CallKind = Literal["pair", "block"]
CALL_KINDS: tuple[CallKind, ...] = ("pair", "block")

AnyJudge = TypeVar("AnyJudge", bound="Judge | ListJudge")
Prompt = TypeVar("Prompt")
Answer = TypeVar("Answer")


@dataclass(frozen=True)
class CallRecord:
    """One judge call: pairwise or listwise, how many prompts it held, and how long it took."""

    kind: CallKind
    prompts: int
    seconds: float


class _Timed(Generic[AnyJudge]):
    """What both decorators share: the wrapped judge's identity, and timing a call into `log`."""

    def __init__(self, judge: AnyJudge, log: list[CallRecord]) -> None:
        self.inner: AnyJudge = judge
        self.log = log

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def reads_text(self) -> bool:
        return self.inner.reads_text

    def _timed(
        self,
        kind: CallKind,
        call: Callable[[Sequence[Prompt]], list[Answer]],
        prompts: Sequence[Prompt],
    ) -> list[Answer]:
        started = time.perf_counter()
        answers = call(prompts)
        self.log.append(CallRecord(kind, len(prompts), time.perf_counter() - started))
        return answers


class TimedJudge(_Timed[Judge]):
    """A pairwise judge that appends a CallRecord to `log` for every call."""

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        return self._timed("pair", self.inner.judge, prompts)


class TimedListJudge(_Timed[ListJudge]):
    """A listwise judge that appends a CallRecord to `log` for every call."""

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]:
        return self._timed("block", self.inner.rank, prompts)
