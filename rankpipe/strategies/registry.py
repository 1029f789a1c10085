"""Strategy spec strings: `NAME[:key=value,...]`, e.g. `sliding:passes=10` or
`sparse:sampler=random,budget=4`.

Each strategy is a dataclass whose fields are its options; values are converted to the field
types."""

from __future__ import annotations

import dataclasses
import importlib
import typing

from rankpipe.errors import InputError
from rankpipe.strategies.base import Strategy

STRATEGIES = {
    "allpairs": "rankpipe.strategies.allpairs:AllPairs",
    "sliding": "rankpipe.strategies.sliding:Sliding",
    "heapsort": "rankpipe.strategies.heapsort:HeapSort",
    "quicksort": "rankpipe.strategies.quicksort:QuickSort",
    "quickselect": "rankpipe.strategies.quicksort:QuickSelect",
    "mergesort": "rankpipe.strategies.mergesort:MergeSort",
    "tournament": "rankpipe.strategies.tournament:Tournament",
    "sparse": "rankpipe.strategies.sparse:Sparse",
    "jointrank": "rankpipe.strategies.jointrank:JointRank",
    "cascade": "rankpipe.strategies.cascade:Cascade",
    "first-stage": "rankpipe.strategies.first_stage:FirstStage",
}


def strategy_class(name: str) -> type:
    if name not in STRATEGIES:
        raise InputError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    module, _, attribute = STRATEGIES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


def make_strategy(spec: str) -> Strategy:
    """Build a strategy from `NAME[:key=value,...]`."""
    name, _, rest = spec.partition(":")
    cls = strategy_class(name.strip())
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    options: dict[str, object] = {}
    for item in (p.strip() for p in rest.split(",") if p.strip()):
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or key not in fields:
            takes = ", ".join(sorted(fields)) or "none"
            raise InputError(f"strategy {spec!r}: {item!r} is not an option; {name} takes {takes}")
        options[key] = _convert(spec, key, raw.strip(), hints[key])
    try:
        return cls(**options)  # type: ignore[no-any-return]
    except ValueError as error:
        raise InputError(f"strategy {spec!r}: {error}") from None


def _convert(spec: str, key: str, raw: str, kind: object) -> object:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    target = args[0] if args and typing.get_origin(kind) is not typing.Literal else kind
    if typing.get_origin(kind) is typing.Literal:
        if raw not in typing.get_args(kind):
            choices = ", ".join(map(str, typing.get_args(kind)))
            raise InputError(f"strategy {spec!r}: {key} must be one of {choices}")
        return raw
    try:
        if target is bool:
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
        return target(raw)  # type: ignore[operator]
    except (TypeError, ValueError):
        raise InputError(
            f"strategy {spec!r}: {key}={raw!r} is not a valid {getattr(target, '__name__', target)}"
        ) from None
