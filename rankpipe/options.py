"""Options of spec strings (`NAME:key=value,...`, judges and strategies alike): one parser for the
items, the booleans and the typed, range-checked values, so both kinds of spec read and complain
the same way. Hand-written because these are argument values inside one CLI option (argparse parses
the option, not its value's little language)."""

from __future__ import annotations

import math
from typing import Any

from rankpipe.errors import InputError

TRUE_WORDS = ("1", "true", "yes")
FALSE_WORDS = ("0", "false", "no")


def split_items(rest: str) -> list[str]:
    """The comma-separated items after `NAME:`, stripped, empty ones dropped."""
    return [part.strip() for part in rest.split(",") if part.strip()]


def parse_bool(raw: str) -> bool:
    """`1/true/yes` or `0/false/no` (any case); ValueError otherwise."""
    word = raw.strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(raw)
    return word in TRUE_WORDS


def typed_value(
    where: str,
    key: str,
    raw: str,
    kind: type,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Any:
    """`raw` as a bool, int, float or str (`kind`), within [minimum, maximum] when given.

    Floats must be finite (no nan or inf). Raises InputError `WHERE: option KEY='RAW' ...` saying
    what was expected."""

    def refuse(expected: str) -> InputError:
        return InputError(f"{where}: option {key}={raw!r} {expected}")

    if kind is bool:
        try:
            return parse_bool(raw)
        except ValueError:
            raise refuse("is not a valid bool (true/false, yes/no, 1/0)") from None
    if kind is int:
        try:
            value: float = int(raw)
        except ValueError:
            raise refuse("is not a valid int") from None
    elif kind is float:
        try:
            value = float(raw)
        except ValueError:
            raise refuse("is not a valid float") from None
        if not math.isfinite(value):
            raise refuse("is not a valid float (a finite number)")
    else:
        return kind(raw)
    if minimum is not None and value < minimum:
        raise refuse(f"must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise refuse(f"must be at most {maximum:g}")
    return value
