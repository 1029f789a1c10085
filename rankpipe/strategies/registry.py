"""Strategy spec strings: `NAME[:key=value,...]`, e.g. `sliding:passes=10` or
`sparse:sampler=random,budget=4`.

Each strategy is a dataclass whose fields are its options; values are converted to the field
types."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import typing

from rankpipe.errors import InputError
from rankpipe.options import split_items, typed_value
from rankpipe.strategies.base import Strategy

log = logging.getLogger(__name__)

AGGREGATOR_OPTIONS = ("agg", "aggregator", "aggregate")
"""One concept, one option name (`agg`); the others are older spellings some strategies' fields
still carry."""

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
    "setwise": "rankpipe.strategies.setwise:Setwise",
    "pairs": "rankpipe.strategies.pairs:PairS",
    "tourrank": "rankpipe.strategies.tourrank:TourRank",
    "adaptive": "rankpipe.strategies.adaptive:Adaptive",
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
    for item in split_items(rest):
        key, eq, raw = item.partition("=")
        key = _field_name(spec, key.strip(), fields)
        if not eq or key not in fields:
            takes = ", ".join(sorted(fields)) or "none"
            raise InputError(f"strategy {spec!r}: {item!r} is not an option; {name} takes {takes}")
        if key in options:
            raise InputError(f"strategy {spec!r}: option {key} is given twice")
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
    return typed_value(f"strategy {spec!r}", key, raw, target)  # type: ignore[arg-type]


def _field_name(spec: str, key: str, fields: set[str]) -> str:
    """The strategy's own field for an aggregator option: `agg` is the name everywhere; the older
    `aggregator`/`aggregate` spellings are accepted with a deprecation note."""
    if key not in AGGREGATOR_OPTIONS:
        return key
    if key != "agg":
        log.warning("strategy %r: %s= is deprecated; write agg=", spec, key)
    return next((name for name in AGGREGATOR_OPTIONS if name in fields), key)
