"""QuickSort and QuickSelect with every partition in one round.

Hoare 1961/1962 ("Algorithm 64: Quicksort", "Algorithm 65: Find"), written for pairwise LLM judges:
a block of candidates is split by comparing each member with its pivots all in one round, and the
blocks of one level are split in the same round (partitions recursed in parallel). Small blocks are
ordered all-pairs in one round (PRP-Allpair, Qin et al. 2023).

A partition of a block of s candidates by m pivots costs m(s-m) + m(m-1)/2 comparisons (the pivots
are compared with each other in the same round); ordering a block all-pairs costs s(s-1)/2. Worst
case n(n-1)/2 comparisons in n-1 rounds; the expected cost depends on the pivots (see
eval/results/strategies.md for measured means)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rankpipe.strategies.base import Comparison, PairwiseRun
from rankpipe.strategies.preferences import Preferences
from rankpipe.strategies.procedures import first_stage_below

PivotChoice = Callable[[int, int, int], list[int]]
"""(block size, top-k positions inside the block, pivots wanted) -> pivot indices into the block."""


@dataclass
class QuickSort:
    """A full sort: every block is split by `pivots` pivots spread evenly over its first-stage
    order (one pivot: the middle one) until it holds at most `allpairs_size` candidates, which are
    then ordered all-pairs."""

    name: ClassVar[str] = "quicksort"
    pivots: int = 1
    allpairs_size: int = 1

    def __post_init__(self) -> None:
        _check(self.pivots, self.allpairs_size)

    def run(self, n: int, top_k: int) -> PairwiseRun:
        blocks = yield from _partition(n, n, self.pivots, self.allpairs_size, _spread)
        return [m for block in blocks for m in block.members]


@dataclass
class QuickSelect:
    """A selection: only the blocks that hold some of the top_k positions are split further.

    The block holding the top-k boundary, with `need` of the top_k positions inside it, takes its
    pivots at first-stage indices floor(pivot_at x need x j), j = 1..pivots, within the block: a
    pivot a little below the boundary leaves a small block above it, which is then ordered
    all-pairs (blocks of at most `allpairs_size`, default 2 x top_k). Blocks wholly inside the top
    k are split at their middle. Positions below top_k keep first-stage order, or with `full` the
    order of the blocks found (each block in first-stage order).

    With the defaults, a typical query takes 2-3 rounds: one partition of all n against one pivot
    (n-1 comparisons), one all-pairs round on the block above it, and a further partition when the
    pivot fell too low or too high."""

    name: ClassVar[str] = "quickselect"
    pivots: int = 1
    allpairs_size: int | None = None
    pivot_at: float = 1.5
    full: bool = False

    def __post_init__(self) -> None:
        _check(self.pivots, self.allpairs_size)
        if self.pivot_at <= 0:
            raise ValueError(f"pivot_at must be positive, got {self.pivot_at}")

    def allpairs_limit(self, top_k: int) -> int:
        """Blocks of at most this many candidates are ordered all-pairs (by default 2 x top_k)."""
        return 2 * top_k if self.allpairs_size is None else self.allpairs_size

    def whole_queries(self, sizes: Sequence[int], top_k: int) -> list[int]:
        """The sizes, among queries of these many candidates, that are ordered all-pairs whole
        instead of selected (at most `allpairs_limit`): far more comparisons than selecting."""
        return [n for n in sizes if 1 < n <= self.allpairs_limit(min(top_k, n))]

    def run(self, n: int, top_k: int) -> PairwiseRun:
        allpairs_size = self.allpairs_limit(top_k)
        blocks = yield from _partition(n, top_k, self.pivots, allpairs_size, self._choose)
        order = [m for block in blocks for m in block.members]
        return order if self.full else first_stage_below(order[:top_k], n)

    def _choose(self, size: int, need: int, pivots: int) -> list[int]:
        if need >= size:
            return _spread(size, need, pivots)
        return sorted({min(size - 1, int(self.pivot_at * need * j)) for j in range(1, pivots + 1)})


def _spread(size: int, need: int, pivots: int) -> list[int]:
    return sorted({size * j // (pivots + 1) for j in range(1, pivots + 1)})


def _check(pivots: int, allpairs_size: int | None) -> None:
    if pivots < 1:
        raise ValueError(f"pivots must be at least 1, got {pivots}")
    if allpairs_size is not None and allpairs_size < 1:
        raise ValueError(f"allpairs_size must be at least 1, got {allpairs_size}")


@dataclass
class _Block:
    """Candidates whose place relative to the other blocks is known; `settled`: their order too."""

    members: list[int]
    settled: bool


def _partition(
    n: int, top_k: int, pivots: int, allpairs_size: int, choose: PivotChoice
) -> Generator[list[Comparison], list[float], list[_Block]]:
    """Split blocks holding top-k positions, one round per level, until those are all settled."""
    known = Preferences()
    blocks = [_Block(list(range(n)), n <= 1)]
    while True:
        plans: dict[int, list[int]] = {}
        start = 0
        for index, block in enumerate(blocks):
            size = len(block.members)
            if start < top_k and not block.settled:
                need = min(top_k, start + size) - start
                if size <= allpairs_size:
                    plans[index] = list(block.members)
                else:
                    plans[index] = [
                        block.members[i] for i in choose(size, need, min(pivots, size - 1))
                    ]
            start += size
        if not plans:
            return blocks
        yield from known.ask(
            pair for index, chosen in plans.items() for pair in _pairs(blocks[index], chosen)
        )
        split: list[_Block] = []
        for index, block in enumerate(blocks):
            if index not in plans:
                split.append(block)
            elif len(plans[index]) == len(block.members):
                split.append(_Block(known.order_by_wins(block.members), True))
            else:
                split.extend(_split(block, plans[index], known))
        blocks = split


def _pairs(block: _Block, chosen: list[int]) -> list[tuple[int, int]]:
    """All pairs among the chosen (all members or the pivots), and the others against each pivot."""
    among = [(a, b) for i, a in enumerate(chosen) for b in chosen[i + 1 :]]
    return among + [(m, p) for m in block.members if m not in chosen for p in chosen]


def _split(block: _Block, pivots: list[int], known: Preferences) -> list[_Block]:
    """Buckets by how many pivots beat each member, with the pivots (ordered) between them."""
    ordered = known.order_by_wins(pivots)
    buckets: list[list[int]] = [[] for _ in range(len(pivots) + 1)]
    for member in block.members:
        if member not in pivots:
            buckets[sum(known.beats(p, member) for p in pivots)].append(member)
    split: list[_Block] = []
    for level, bucket in enumerate(buckets):
        if bucket:
            split.append(_Block(bucket, len(bucket) == 1))
        if level < len(ordered):
            split.append(_Block([ordered[level]], True))
    return split
