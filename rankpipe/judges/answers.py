"""Reading generated answers: a pairwise choice, or a listwise permutation repaired into shape."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence

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
