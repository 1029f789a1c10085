"""The request forms: one row per kind of question a strategy can ask a judge.

| form | request | prompt | judge method | judgment | the strategy receives |
|---|---|---|---|---|---|
| pair | `Comparison` | `PairPrompt` | `Judge.judge` | `Judgment` | P(a beats b), orders combined |
| block | `BlockRequest` | `BlockPrompt` | `ListJudge.rank` | `BlockJudgment` | members, best 1st |
| set | `BestOf` | `SetPrompt` | `SetJudge.choose` | `SetJudgment` | P(member i is best) |

The executor, the cache, telemetry and compare read this table instead of naming the forms in
strings or branching on types; a new form (pointwise scoring, say) is one more row here, a prompt
and judgment type in `judges/base.py`, and its judge method."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rankpipe.judges.base import (
    BlockJudgment,
    BlockPrompt,
    Judgment,
    PairPrompt,
    SetJudgment,
    SetPrompt,
)
from rankpipe.strategies.base import BestOf, BlockRequest, Comparison, Request

FormName = Literal["pair", "block", "set"]


@dataclass(frozen=True)
class Form:
    """One request form: the types it travels in and how a judge answers it."""

    name: FormName
    request: type
    prompt: type
    judgment: type
    method: str
    """The judge's method that answers a batch of this form's prompts."""
    style: str
    """The form's adjective, for messages ("pairwise")."""
    asks: str
    """What a strategy asks in this form, for messages ("pairwise comparisons")."""
    answer: Callable[[Any, Any], Any]
    """(request, judgment) -> what the strategy receives (the pair form combines orders instead)."""
    invalid: Callable[[Any], int]
    """How many invalid answers a judgment counts for in the ledger."""

    def ask(self, judge: Any, prompts: Sequence[Any]) -> list[Any]:
        """Send a batch of prompts of this form to the judge."""
        return list(getattr(judge, self.method)(prompts))


PAIR = Form(
    "pair",
    Comparison,
    PairPrompt,
    Judgment,
    "judge",
    "pairwise",
    "pairwise comparisons",
    answer=lambda request, judgment: judgment.p_a,
    invalid=lambda judgment: int(not judgment.valid),
)
BLOCK = Form(
    "block",
    BlockRequest,
    BlockPrompt,
    BlockJudgment,
    "rank",
    "listwise",
    "listwise blocks",
    answer=lambda request, judgment: tuple(request.members[i] for i in judgment.order),
    invalid=lambda judgment: judgment.repairs,
)
SET = Form(
    "set",
    BestOf,
    SetPrompt,
    SetJudgment,
    "choose",
    "setwise",
    "setwise choices",
    answer=lambda request, judgment: judgment.probs,
    invalid=lambda judgment: int(not judgment.valid),
)
FORMS: dict[FormName, Form] = {form.name: form for form in (PAIR, BLOCK, SET)}
_BY_TYPE: dict[type, Form] = {
    kind: form for form in FORMS.values() for kind in (form.request, form.prompt, form.judgment)
}


def form_of(thing: Request | Any) -> Form:
    """The form of a request, a prompt or a judgment."""
    try:
        return _BY_TYPE[type(thing)]
    except KeyError:
        raise TypeError(f"{type(thing).__name__} belongs to no request form") from None


def judge_of(form: Form, judge: Any) -> Any:
    """The judge that answers `form` among a judge's forms (itself for pairs; itself again when it
    also ranks blocks or picks from sets, else None)."""
    if form is PAIR:
        return judge
    return judge if callable(getattr(judge, form.method, None)) else None


def members(request: Request) -> tuple[int, ...]:
    """The candidate positions a request shows, in the order shown."""
    return (request.a, request.b) if isinstance(request, Comparison) else request.members
