"""Reading generated answers: a pairwise choice, or a listwise permutation repaired into shape;
label log-probabilities turned into probabilities; one warning for a call's unusable answers; and
checking what an OpenAI-compatible server returned before anything reads it.

Every backend that scores labels by their log-probabilities (hf, vllm, openai) reads them here, the
same way: `label_probabilities` renormalises n labels' log-probabilities over the labels (softmax
shifted by the largest, so two labels give exactly `sigmoid(first - second)`) and gives their mass
(the probability they hold together under the model's full softmax); `pair_answer` and
`set_answer` turn those into an answer and whether it counts (a mass above 0 and at least
`min_mass`), scoring an unusable one 0.5 or uniform. `top_label_logprobs` gets the labels'
log-probabilities from a server's top-k list first. `warn_unusable` is the one warning per call.

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

from rankpipe.judges.base import BlockJudgment, Judgment, SetJudgment

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


def label_probabilities(logprobs: Sequence[float]) -> tuple[tuple[float, ...], float]:
    """The labels' probabilities renormalised over them, and their mass, from their
    log-probabilities under the model's full softmax (-inf for a label with none).

    The probabilities are a softmax shifted by the largest log-probability (for two labels exactly
    `sigmoid(first - second)`); the mass is the sum of the labels' probabilities. When no label has
    any probability (all at -inf, or a NaN among them) the probabilities are uniform and the mass
    0.0, which no `min_mass` accepts."""
    uniform = (1.0 / len(logprobs),) * len(logprobs)
    if not logprobs or any(math.isnan(x) for x in logprobs):
        return uniform, 0.0
    top = max(logprobs)
    if not math.isfinite(top):
        return uniform, 0.0
    shifted = [math.exp(x - top) for x in logprobs]
    total = sum(shifted)
    return tuple(x / total for x in shifted), sum(math.exp(x) for x in logprobs)


def pair_probability(first: float, second: float) -> tuple[float, float]:
    """(P(first) renormalised over the two choices, their mass) from their log-probabilities."""
    (p_first, _), mass = label_probabilities((first, second))
    return p_first, mass


def usable(mass: float, min_mass: float) -> bool:
    """Whether labels holding `mass` make an answer: some probability, and at least `min_mass`."""
    return mass > 0.0 and mass >= min_mass


def pair_answer(first: float, second: float, min_mass: float) -> tuple[float, bool]:
    """(P(first), valid) from the two choices' log-probabilities; 0.5 when not valid."""
    p_first, mass = pair_probability(first, second)
    valid = usable(mass, min_mass)
    return (p_first if valid else 0.5), valid


def set_answer(logprobs: Sequence[float], min_mass: float) -> tuple[tuple[float, ...], bool]:
    """(probabilities renormalised over the shown labels, valid) from their log-probabilities;
    uniform when not valid."""
    probs, mass = label_probabilities(logprobs)
    valid = usable(mass, min_mass)
    return (probs if valid else (1.0 / len(logprobs),) * len(logprobs)), valid


def top_label_logprobs(
    top_logprobs: Mapping[str, float], labels: Sequence[str]
) -> tuple[float, ...]:
    """Each label's log-probability from the answer token's top log-probabilities (token text ->
    log-probability, as vLLM and OpenAI-compatible servers return them). Tokens that equal a label
    once stripped count for it (" A" and "A" alike, their probabilities summed). When some label
    is listed, a label missing from the list gets the smallest listed log-probability (an upper
    bound); when none is, every label is at -inf (no mass: the answer is not valid)."""
    found: list[list[float]] = [[] for _ in labels]
    for token, logprob in top_logprobs.items():
        for i, label in enumerate(labels):
            if token.strip() == label:
                found[i].append(logprob)
    if not any(found):
        return (-math.inf,) * len(labels)
    floor = min(top_logprobs.values())
    return tuple(_log_sum_exp(each) if each else floor for each in found)


def _log_sum_exp(logprobs: Sequence[float]) -> float:
    """log(sum(exp(x))): one log-probability exactly as given, several summed."""
    if len(logprobs) == 1:
        return logprobs[0]
    total = sum(math.exp(x) for x in logprobs)
    return math.log(total) if total > 0.0 else -math.inf


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


def warn_unusable(
    log: logging.Logger,
    who: str,
    judgments: Sequence[Judgment | SetJudgment | BlockJudgment],
    what: str,
) -> None:
    """One warning for a call's answers that could not be used as they came, `WHO: N of M WHAT`:
    pairwise and setwise answers that are not valid (scored 0.5 or uniform), listwise rankings
    that needed repairs (the identifiers fixed are added)."""
    repairs = [j.repairs for j in judgments if isinstance(j, BlockJudgment) and j.repairs]
    invalid = sum(not j.valid for j in judgments if not isinstance(j, BlockJudgment))
    if repairs or invalid:
        fixed = f" ({sum(repairs)} identifiers fixed)" if repairs else ""
        log.warning("%s: %d of %d %s%s", who, len(repairs) + invalid, len(judgments), what, fixed)


def unchosen(choices: Sequence[str], min_mass: float | None = None) -> str:
    """What `warn_unusable` says of pairwise answers naming neither choice."""
    below = f" (P({'+'.join(choices)}) below min_mass={min_mass})" if min_mass is not None else ""
    return f"answers were neither {' nor '.join(choices)}{below}; scored 0.5"


def unlabelled(min_mass: float | None = None) -> str:
    """What `warn_unusable` says of setwise answers naming no shown label."""
    if min_mass is None:
        return "setwise answers named no shown label; scored uniform"
    return f"setwise answers gave the shown labels less than min_mass={min_mass}; scored uniform"


REPAIRED = "rankings needed repairs"
"""What `warn_unusable` says of listwise answers that needed repairs."""
