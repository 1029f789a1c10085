"""The judge interfaces: a pairwise `Judge` and a listwise `ListJudge`.

A judge answers a batch of prompts in one call; each answer is one model inference. Judges know
nothing of caching, orders or cost ledgers: the executor and wrappers add those."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rankpipe.data.types import Candidate, Query


@dataclass(frozen=True)
class PairPrompt:
    """Is passage `a` (shown first) more relevant to `query` than passage `b`?"""

    query: Query
    a: Candidate
    b: Candidate


@dataclass(frozen=True)
class Judgment:
    """One pairwise inference: P(a more relevant than b), its token usage, and whether the
    model's answer was usable (an unusable answer is scored 0.5 and counted). `prefix_reused_tokens`
    of its `prompt_tokens` were not run because a judge reused them from a shared prefix computed
    for another prompt (each prefix is charged to the first prompt that needed it)."""

    p_a: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    valid: bool = True
    prefix_reused_tokens: int = 0


@dataclass(frozen=True)
class BlockPrompt:
    """Rank these passages by relevance to `query`."""

    query: Query
    passages: tuple[Candidate, ...]


@dataclass(frozen=True)
class BlockJudgment:
    """One listwise inference: `order` lists positions into the block, best first, and is always a
    permutation of range(len(block)); `repairs` counts identifiers the parser had to fix."""

    order: tuple[int, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    repairs: int = 0
    prefix_reused_tokens: int = 0


@dataclass(frozen=True)
class SetPrompt:
    """Which of these passages (labelled A, B, C, ... in this order) is the most relevant to
    `query`?"""

    query: Query
    passages: tuple[Candidate, ...]


@dataclass(frozen=True)
class SetJudgment:
    """One setwise inference: `probs[i]` = P(passage i is the most relevant), summing to 1 (from the
    label log-probabilities of one generation step); an unusable answer is uniform and not valid."""

    probs: tuple[float, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    valid: bool = True
    prefix_reused_tokens: int = 0


@runtime_checkable
class Judge(Protocol):
    """Answers pairwise prompts, one inference each, in the order given."""

    @property
    def identity(self) -> str:
        """Everything that changes answers (backend, model, prompt template, options): the cache
        key's prefix."""
        ...

    @property
    def reads_text(self) -> bool:
        """False for judges that decide by docid (the simulated judge): their cache keys use
        docids."""
        ...

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]: ...


@runtime_checkable
class ListJudge(Protocol):
    """Ranks blocks of passages listwise, one inference each, in the order given."""

    @property
    def identity(self) -> str: ...

    @property
    def reads_text(self) -> bool: ...

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]: ...


@runtime_checkable
class SetJudge(Protocol):
    """Picks the most relevant passage of each set, one inference each, in the order given."""

    @property
    def identity(self) -> str: ...

    @property
    def reads_text(self) -> bool: ...

    def choose(self, prompts: Sequence[SetPrompt]) -> list[SetJudgment]: ...


def setwise_form(judge: Judge | None) -> SetJudge | None:
    """The judge itself when it also answers setwise prompts, else None."""
    return judge if isinstance(judge, SetJudge) else None


def listwise_form(judge: Judge | None) -> ListJudge | None:
    """The judge itself when it also ranks blocks (backends that serve both forms with one
    model), else None."""
    return judge if isinstance(judge, ListJudge) else None
