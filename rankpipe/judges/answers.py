"""Reading generated answers: a pairwise choice, or a listwise permutation repaired into shape."""

from __future__ import annotations

import re
from collections.abc import Sequence

_IDENTIFIER = re.compile(r"\[?\s*(\d+)\s*\]?")


def parse_choice(text: str, choices: Sequence[str] = ("A", "B"), answer_prefix: str = "Passage") -> int | None:
    """Index of the choice a generated answer names ("A", " B", "Passage A", "passage b."), or None
    when it names neither or both."""
    cleaned = text.strip()
    if cleaned.lower().startswith(answer_prefix.lower()):
        cleaned = cleaned[len(answer_prefix) :]
    tokens = re.findall(r"[A-Za-z0-9]+", cleaned)
    named = {i for i, choice in enumerate(choices) for t in tokens[:1] if t.upper() == choice.upper()}
    if len(named) == 1:
        return named.pop()
    hits = {i for i, choice in enumerate(choices) if re.search(rf"\b{re.escape(choice)}\b", cleaned)}
    return hits.pop() if len(hits) == 1 else None


def parse_permutation(text: str, k: int) -> tuple[tuple[int, ...], int]:
    """Positions 0..k-1 in the order a generated ranking like "[2] > [3] > [1]" names them (1-based ids).

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
