"""Strategy spec strings: `NAME[:key=value,...]`, e.g. `sliding:passes=10` or
`sparse:sampler=random,budget=4`.

Each strategy is a dataclass whose fields are its options; values are converted to the field
types."""

from __future__ import annotations

import importlib

from rankpipe.errors import InputError
from rankpipe.options import declared, parse_options, split_items
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
    """Build a strategy from `NAME[:key=value,...]`: its dataclass fields are its options, parsed
    and checked by `rankpipe.options.parse_options`."""
    name, _, rest = spec.partition(":")
    cls = strategy_class(name.strip())
    raw: dict[str, str] = {}
    for item in split_items(rest):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in declared(cls):
            takes = ", ".join(sorted(declared(cls))) or "none"
            raise InputError(f"strategy {spec!r}: {item!r} is not an option; {name} takes {takes}")
        if key in raw:
            raise InputError(f"strategy {spec!r}: option {key} is given twice")
        raw[key] = value.strip()
    return parse_options(cls, f"strategy {spec!r}", raw)  # type: ignore[no-any-return]
