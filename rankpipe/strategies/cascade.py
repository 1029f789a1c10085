"""Two strategies in sequence: the first orders all candidates, the second reorders the first's top
`depth`, e.g. JointRank in one listwise round, then pairwise refinement of its head:

    cascade:first=jointrank+block=20+replicas=4,then=allpairs,depth=20

`first` and `then` are strategy specs whose options follow `+` instead of `:` and `,` (a spec's
options may hold neither), so any two strategies compose, pairwise or listwise. The second
strategy sees the first's order as its first-stage order; positions below `depth` keep the first's
order. Rounds add up: the second starts when the first has finished.

The registry names this module (by a string, imported on first use); this module imports the
registry to build its stages, so the import graph has no cycle.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rankpipe.errors import InputError
from rankpipe.strategies.base import (
    BlockRequest,
    Comparison,
    Request,
    Strategy,
    StrategyRun,
    relay,
)
from rankpipe.strategies.registry import make_strategy


def nested_spec(value: str) -> str:
    """`jointrank+block=20+replicas=4` -> `jointrank:block=20,replicas=4`."""
    name, *options = value.split("+")
    return f"{name}:{','.join(options)}" if options else name


def on_positions(
    run: StrategyRun, positions: Sequence[int]
) -> Generator[list[Request], Sequence[Any], list[int]]:
    """Drive a strategy written for len(positions) candidates over these positions of a larger list:
    its requests are mapped out, block answers mapped back, and its order returned as positions."""
    index = {p: i for i, p in enumerate(positions)}
    order = yield from relay(
        run,
        lambda request: _map_out(request, positions),
        lambda request, answer: (
            tuple(index[m] for m in answer) if isinstance(request, BlockRequest) else answer
        ),
    )
    return [positions[i] for i in order]


def _map_out(request: Request, positions: Sequence[int]) -> Request:
    if isinstance(request, Comparison):
        return Comparison(positions[request.a], positions[request.b])
    return BlockRequest(tuple(positions[m] for m in request.members))


@dataclass
class Cascade:
    name: ClassVar[str] = "cascade"
    first: str = "jointrank"
    then: str = "allpairs"
    depth: int = 20
    stages: tuple[Strategy, Strategy] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}")
        stages = []
        for role, value in (("first", self.first), ("then", self.then)):
            try:
                stages.append(make_strategy(nested_spec(value)))
            except InputError as error:
                raise InputError(f"cascade {role}={value}: {error}") from None
        self.stages = (stages[0], stages[1])

    def run(self, n: int, top_k: int) -> StrategyRun:
        first, then = self.stages
        depth = min(self.depth, n)
        order = yield from first.run(n, max(top_k, depth))
        head = yield from on_positions(then.run(depth, min(top_k, depth)), order[:depth])
        return head + order[depth:]
