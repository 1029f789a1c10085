"""Options of spec strings (`NAME:key=value,...`, judges and strategies alike), declared once as
typed dataclass fields (`option(default, help, minimum=..., identity=...)`): parsing, validation,
help text and the canonical rendering of cache identities all follow from the declaration, so both
kinds of spec read and complain the same way. Hand-written because these are argument values
inside one CLI option (argparse parses the option, not its value's little language)."""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rankpipe.errors import InputError

TRUE_WORDS = ("1", "true", "yes")
FALSE_WORDS = ("0", "false", "no")
T = TypeVar("T")


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


@dataclass(frozen=True)
class OptionInfo:
    """What a declared option says of itself beyond its type and default."""

    help: str
    minimum: float | None = None
    maximum: float | None = None
    identity: bool = False
    """Whether the option changes answers, so that the cache identity renders it."""


def option(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    identity: bool = False,
) -> Any:
    """Declare an option as a dataclass field: its default, help text, range and whether it is part
    of the cache identity. Parsing, validation, `--help` text and identities follow from it."""
    return field(default=default, metadata={"option": OptionInfo(help, minimum, maximum, identity)})


def declared(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The options a dataclass declares (its init fields), by name, in declaration order."""
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def info(declared_field: dataclasses.Field[Any]) -> OptionInfo:
    found = declared_field.metadata.get("option")
    return found if isinstance(found, OptionInfo) else OptionInfo("")


def parse_options(cls: type[T], where: str, raw: Mapping[str, str]) -> T:
    """Build the options dataclass `cls` from `key=value` strings: unknown keys, values of the
    wrong type or out of range, and the class's own checks (a ValueError in `__post_init__`) raise
    InputError `WHERE: ...` naming the option."""
    fields = declared(cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        takes = ", ".join(fields) or "none"
        raise InputError(f"{where}: unknown option(s) {', '.join(unknown)}; it takes {takes}")
    hints = typing.get_type_hints(cls)
    values = {
        key: convert(where, key, text, hints[key], info(fields[key])) for key, text in raw.items()
    }
    try:
        return cls(**values)
    except ValueError as error:
        raise InputError(f"{where}: {error}") from None


def convert(where: str, key: str, raw: str, kind: Any, about: OptionInfo | None = None) -> Any:
    """One option's text as its declared type (Optional, Literal, bool, int, float or str)."""
    about = about or OptionInfo("")
    if typing.get_origin(kind) is typing.Literal:
        choices = typing.get_args(kind)
        if raw not in choices:
            raise InputError(f"{where}: {key} must be one of {', '.join(map(str, choices))}")
        return raw
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    target = args[0] if args else kind
    if typing.get_origin(target) is typing.Literal:
        return convert(where, key, raw, target, about)
    return typed_value(where, key, raw, target, minimum=about.minimum, maximum=about.maximum)


def describe(cls: type) -> list[str]:
    """One line per option, `name=TYPE (default D): help`: the `--help` text of a backend or a
    strategy."""
    hints = typing.get_type_hints(cls)
    lines = []
    for name, declared_field in declared(cls).items():
        default = declared_field.default
        shown = "required" if default is dataclasses.MISSING else default
        about = info(declared_field)
        line = f"{name}={_type_name(hints[name])} (default {'unset' if default is None else shown})"
        lines.append(f"{line}: {about.help}" if about.help else line)
    return lines


def _type_name(kind: Any) -> str:
    """`int`, `float`, `chat|plain` (a Literal's choices); Optional's None left out."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is typing.Literal:
        return "|".join(map(str, typing.get_args(kind)))
    if args and typing.get_origin(kind) is not typing.Literal:
        return _type_name(args[0]) if len(args) == 1 else "|".join(map(_type_name, args))
    return getattr(kind, "__name__", str(kind))


def canonical(options: Any, names: Sequence[str] | None = None) -> str:
    """The canonical `key=value,...` of an options dataclass: its identity options (or `names`),
    in declaration order, defaults included, so equal options always render alike."""
    fields = declared(type(options))
    chosen = names if names is not None else [n for n, f in fields.items() if info(f).identity]
    return ",".join(f"{name}={getattr(options, name)}" for name in chosen)
