"""Reading generated answers: a pairwise choice, or a listwise permutation repaired into shape;
and checking what an OpenAI-compatible server returned before anything reads it.

`read_completion` is the one place where a server's JSON meets the judges: every field the judges
use is checked for its shape, type and range, and whatever falls outside becomes a `BadAnswer`
naming the field and the value (`usage.prompt_tokens is 'many', expected a non-negative
integer`), never an AttributeError or OverflowError deep in a judge. Written here rather than with
a schema library (pydantic, jsonschema) because the rules are few, the values must be named in the
user's words, and log-probabilities need range checks (finite, at most 0) that a schema does not
express; the core install stays without those libraries."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rankpipe.judges.base import BlockJudgment, Judgment

_IDENTIFIER = re.compile(r"\[?\s*(\d+)\s*\]?")


def parse_choice(
    text: str, choices: Sequence[str] = ("A", "B"), answer_prefix: str = "Passage"
) -> int | None:
    """Index of the choice a generated answer names ("A", " B", "Passage A", "passage b."), or None
    when it names neither or both."""
    cleaned = text.strip()
    if cleaned.lower().startswith(answer_prefix.lower()):
        cleaned = cleaned[len(answer_prefix) :]
    tokens = re.findall(r"[A-Za-z0-9]+", cleaned)
    first = tokens[0].upper() if tokens else None
    named = {i for i, choice in enumerate(choices) if choice.upper() == first}
    if len(named) == 1:
        return named.pop()
    hits = {
        i for i, choice in enumerate(choices) if re.search(rf"\b{re.escape(choice)}\b", cleaned)
    }
    return hits.pop() if len(hits) == 1 else None


def sigmoid(margin: float) -> float:
    """1 / (1 + e^-margin) without overflow: P(first choice) from a log-odds margin, such as
    log P(A) - log P(B), or a score difference over a temperature."""
    if margin >= 0:
        return 1.0 / (1.0 + math.exp(-margin))
    return math.exp(margin) / (1.0 + math.exp(margin))


def parse_permutation(text: str, k: int) -> tuple[tuple[int, ...], int]:
    """Positions 0..k-1 in the order a generated ranking like "[2] > [3] > [1]" names them
    (identifiers are 1-based).

    Repairs, each counted: identifiers out of range or repeated are dropped, and identifiers never
    named are appended in their shown order. Returns (order, repairs)."""
    order: list[int] = []
    repairs = 0
    for match in _IDENTIFIER.finditer(text):
        position = int(match.group(1)) - 1
        if not 0 <= position < k or position in order:
            repairs += 1
            continue
        order.append(position)
    missing = [i for i in range(k) if i not in order]
    return tuple(order + missing), repairs + len(missing)


def choice_probability(
    top_logprobs: Mapping[str, float], choices: Sequence[str] = ("A", "B")
) -> float | None:
    """P(first choice) against the second, from the answer token's top log-probabilities (token
    text -> log-probability, as vLLM and OpenAI-compatible servers return them), or None when
    neither choice is listed. Tokens that equal a choice once stripped count for it (" A" and "A"
    alike). A choice missing from the list gets the smallest listed probability, an upper bound."""
    mass = [0.0, 0.0]
    for token, logprob in top_logprobs.items():
        for i, choice in enumerate(choices[:2]):
            if token.strip() == choice:
                mass[i] += math.exp(logprob)
    if not any(mass):
        return None
    floor = min(math.exp(lp) for lp in top_logprobs.values())
    a, b = (m if m else floor for m in mass)
    return a / (a + b)


MAX_TOKENS = 2**62
"""Token counts at or above this are not believed (SQLite stores 64-bit integers)."""
LOGPROB_SLACK = 1e-4
"""A log-probability may exceed 0 by this much (float rounding on a server), no more."""


class BadAnswer(ValueError):
    """A server's answer outside what the judges read: `field` holds `value`, not `expected`."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(f"{field} is {shown}, expected {expected}")
        self.field, self.value, self.expected = field, value, expected


@dataclass(frozen=True)
class Completion:
    """One completions answer, checked: the generated text, the first generated token's top
    log-probabilities (None when the server sent none), why those could not be used (None when
    they could), and the token usage (0 when the server did not report it)."""

    text: str
    top: dict[str, float] | None
    top_problem: str | None
    prompt_tokens: int
    completion_tokens: int


def read_completion(answer: Any) -> Completion:
    """The completion an OpenAI-compatible server's JSON holds (legacy completions format).

    Raises BadAnswer for a shape or type the judges cannot read (no `choices` list of objects,
    text that is not a string, usage counts that are not non-negative integers). Log-probabilities
    that are there but unusable (NaN, infinite, above 0, a non-number) do not raise: `top` is None
    and `top_problem` says why, so the judge scores that answer as invalid and counts it."""
    if not isinstance(answer, dict):
        raise BadAnswer("the answer", answer, "a JSON object")
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        raise BadAnswer("choices", choices, "a non-empty list")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise BadAnswer("choices[0]", choice, "an object")
    text = choice.get("text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise BadAnswer("choices[0].text", text, "a string")
    top, problem = _top_logprobs(choice.get("logprobs"))
    prompt_tokens, completion_tokens = _usage(answer.get("usage"))
    return Completion(text, top, problem, prompt_tokens, completion_tokens)


def _top_logprobs(logprobs: Any) -> tuple[dict[str, float] | None, str | None]:
    """The first token's alternatives (token -> log-probability) and what was wrong with them."""
    if logprobs is None:
        return None, None
    if not isinstance(logprobs, dict):
        raise BadAnswer("choices[0].logprobs", logprobs, "an object or null")
    top = logprobs.get("top_logprobs")
    if top is None or top == []:
        return None, None
    if not isinstance(top, list):
        raise BadAnswer("choices[0].logprobs.top_logprobs", top, "a list")
    if top[0] is None:
        return None, None
    if not isinstance(top[0], dict):
        raise BadAnswer("choices[0].logprobs.top_logprobs[0]", top[0], "an object")
    alternatives: dict[str, float] = {}
    for token, value in top[0].items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"top_logprobs[0][{token!r}] is {value!r}, not a number"
        if math.isnan(value) or value > LOGPROB_SLACK:
            return None, f"top_logprobs[0][{token!r}] is {value!r}, not a log-probability"
        alternatives[str(token)] = min(float(value), 0.0)
    return alternatives or None, None


def _usage(usage: Any) -> tuple[int, int]:
    if usage is None:
        return 0, 0
    if not isinstance(usage, dict):
        raise BadAnswer("usage", usage, "an object or null")
    counts = []
    for name in ("prompt_tokens", "completion_tokens"):
        value = usage.get(name)
        if value is None:
            value = 0
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_TOKENS:
            raise BadAnswer(f"usage.{name}", value, "a non-negative integer")
        counts.append(value)
    return counts[0], counts[1]


def warn_unchosen(
    log: logging.Logger,
    who: str,
    judgments: Sequence[Judgment],
    choices: Sequence[str],
    min_mass: float,
) -> None:
    """One warning for a call's pairwise answers that named neither choice (scored 0.5)."""
    invalid = sum(not j.valid for j in judgments)
    if invalid:
        log.warning(
            "%s: %d of %d answers were neither %s (P(%s) below min_mass=%s); scored 0.5",
            who,
            invalid,
            len(judgments),
            " nor ".join(choices),
            "+".join(choices),
            min_mass,
        )


def warn_repairs(log: logging.Logger, who: str, judgments: Sequence[BlockJudgment]) -> None:
    """One warning for a call's listwise answers whose permutations needed repairs."""
    repaired = [j.repairs for j in judgments if j.repairs]
    if repaired:
        log.warning(
            "%s: %d of %d rankings needed repairs (%d identifiers fixed)",
            who,
            len(repaired),
            len(judgments),
            sum(repaired),
        )
