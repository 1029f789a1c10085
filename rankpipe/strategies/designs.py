"""Block designs for JointRank ("JointRank: Rank Large Set with Single Pass", 2025): which
candidates each listwise block shows, so that all blocks go in one round yet compare everything.

A design places n candidates (positions 0..n-1 in first-stage order) into blocks of at most `size`,
every candidate in exactly `replicas` blocks, no block holding a candidate twice, and the comparison
graph (candidates linked when they share a block) connected. Members of a block are listed in
first-stage order. When n <= size there is one block holding every candidate (one listwise call).

* `random`, equi-replicate random (JointRank's default): `replicas` shuffled passes over the
  candidates cut into ceil(r*n/size) blocks of near-equal size; a disconnected draw is redrawn.
* `latin`, a lattice design from Latin squares: the candidates fill a t x t grid row by row
  (t = ceil(sqrt(n)), so size >= t is needed); each replicate is a parallel class of lines (rows,
  columns, then the symbols of the cyclic Latin squares (i + c*j) mod t, mutually orthogonal ones
  first; at most 2 + phi(t) classes) laid end to end and cut into ceil(n/size) blocks. For
  n = size^2 and 2 replicas the blocks are the rows and columns: the Latin-square PBIBD.
* `triangular`, 2 replicas only: every candidate is an edge between two of v = ceil(2n/size)
  blocks, edges of the complete graph taken one perfect matching at a time so block sizes stay
  even; v grows (and blocks shrink below `size`) while the graph has fewer than n edges, e.g. 15
  blocks of <= 14 for n=100, size=20. For n = size*(size+1)/2 it is the triangular PBIBD: any two
  blocks share exactly one candidate.
* `sliding`, overlapping circular windows: the first-stage ranking cut into w = ceil(r*n/size)
  near-equal segments, each window the union of r consecutive segments (the last windows wrap
  around to the top), stride one segment; needs size >= replicas.

`check_design` validates a design and reports the share of candidate pairs that share a block.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from rankpipe.errors import InputError

Block = tuple[int, ...]


class BlockDesign(Protocol):
    """Builds the blocks for n candidates; raises InputError when the parameters admit no design."""

    name: ClassVar[str]

    def blocks(self, n: int, size: int, replicas: int, seed: int = 0) -> list[Block]: ...


@dataclass(frozen=True)
class DesignReport:
    """What a design delivers: its blocks, how often each candidate appears, the pairs it covers."""

    n: int
    blocks: int
    largest_block: int
    replication: tuple[int, ...]
    """Blocks holding each candidate, by position."""
    pairs_covered: int
    connected: bool

    @property
    def pair_coverage(self) -> float:
        """Share of the n(n-1)/2 candidate pairs that share a block (are compared directly)."""
        total = self.n * (self.n - 1) // 2
        return self.pairs_covered / total if total else 1.0


def check_design(blocks: Sequence[Block], n: int) -> DesignReport:
    """Report on a design; raises ValueError when a block repeats or misplaces a candidate."""
    replication = [0] * n
    pairs: set[tuple[int, int]] = set()
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for block in blocks:
        if len(set(block)) != len(block) or any(not 0 <= m < n for m in block):
            raise ValueError(f"block {block} repeats a candidate or names one outside 0..{n - 1}")
        for m in block:
            replication[m] += 1
        for i, a in enumerate(block):
            parent[root(a)] = root(block[0])
            pairs.update((min(a, b), max(a, b)) for b in block[i + 1 :])
    connected = len({root(i) for i in range(n)}) <= 1 and min(replication, default=1) > 0
    largest = max((len(b) for b in blocks), default=0)
    return DesignReport(n, len(blocks), largest, tuple(replication), len(pairs), connected)


def _check_parameters(design: str, n: int, size: int, replicas: int) -> None:
    if size < 2:
        raise InputError(f"design {design}: block size must be at least 2, got {size}")
    if replicas < 1:
        raise InputError(f"design {design}: replicas must be at least 1, got {replicas}")
    if replicas == 1 and n > size:
        raise InputError(
            f"design {design}: with replicas=1 the {n} candidates fall into disjoint blocks "
            "that are never compared with each other; use replicas >= 2"
        )


def _connected(design: str, blocks: list[Block], n: int, size: int, replicas: int) -> list[Block]:
    """The blocks, once their comparison graph is known to be connected."""
    if not check_design(blocks, n).connected:
        raise InputError(
            f"design {design}: blocks of {size} x {replicas} replicas leave some of the {n} "
            "candidates never compared, directly or through others; use larger blocks, more "
            "replicas or another design"
        )
    return blocks


def _near_equal(total: int, parts: int) -> list[int]:
    """`total` split into `parts` sizes that differ by at most one, larger first."""
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def _cut(sequence: Sequence[int], parts: int) -> list[Block]:
    blocks, start = [], 0
    for length in _near_equal(len(sequence), parts):
        blocks.append(tuple(sorted(sequence[start : start + length])))
        start += length
    return blocks


@dataclass(frozen=True)
class RandomDesign:
    """Equi-replicate random blocks: shuffled passes over the candidates, cut into blocks."""

    name: ClassVar[str] = "random"
    attempts: ClassVar[int] = 100

    def blocks(self, n: int, size: int, replicas: int, seed: int = 0) -> list[Block]:
        _check_parameters(self.name, n, size, replicas)
        if n <= size:
            return [tuple(range(n))]
        rng = random.Random(seed)
        for _ in range(self.attempts):
            blocks = self._draw(n, size, replicas, rng)
            if check_design(blocks, n).connected:
                return blocks
        return _connected(self.name, blocks, n, size, replicas)

    @staticmethod
    def _draw(n: int, size: int, replicas: int, rng: random.Random) -> list[Block]:
        """Fill each block from the current pass; a block that straddles two passes takes from
        the next pass only candidates it does not hold yet (those stay for later blocks)."""
        pool: list[int] = []
        blocks = []
        for length in _near_equal(replicas * n, math.ceil(replicas * n / size)):
            block: list[int] = []
            while len(block) < length:
                if not pool:
                    pool = rng.sample(range(n), n)
                pick = next(i for i, m in enumerate(pool) if m not in block)
                block.append(pool.pop(pick))
            blocks.append(tuple(sorted(block)))
        return blocks


@dataclass(frozen=True)
class LatinDesign:
    """A lattice design: parallel classes of lines of a t x t grid (rows, columns, squares)."""

    name: ClassVar[str] = "latin"

    def blocks(self, n: int, size: int, replicas: int, seed: int = 0) -> list[Block]:
        _check_parameters(self.name, n, size, replicas)
        if n <= size:
            return [tuple(range(n))]
        t = math.isqrt(n - 1) + 1
        if size < t:
            raise InputError(
                f"design latin: {n} candidates fill a {t} x {t} grid whose lines do not fit in "
                f"blocks of {size}; use block >= {t}, or design=random or sliding"
            )
        slopes = self.square_slopes(t)
        if replicas > 2 + len(slopes):
            raise InputError(
                f"design latin: a {t} x {t} grid offers at most {2 + len(slopes)} replicas "
                f"(rows, columns and {len(slopes)} Latin squares), got replicas={replicas}"
            )
        cells = [(i, j) for i in range(t) for j in range(t)][:n]

        def latin_square(c: int) -> Callable[[int, int], int]:
            return lambda i, j: (i + c * j) % t

        classes: list[Callable[[int, int], int]] = [lambda i, j: i, lambda i, j: j]
        classes += [latin_square(c) for c in slopes]
        blocks = []
        parts = math.ceil(n / size)
        for line_of in classes[:replicas]:
            lines = sorted(range(n), key=lambda x: (line_of(*cells[x]), x))
            blocks += _cut(lines, parts)
        return _connected(self.name, blocks, n, size, replicas)

    @staticmethod
    def square_slopes(t: int) -> list[int]:
        """Multipliers c for which (i + c*j) mod t is a Latin square, mutually orthogonal ones first
        (all of them when t is prime): c coprime to t, then greedily c - c' coprime to t."""
        latin = [c for c in range(1, t) if math.gcd(c, t) == 1]
        orthogonal: list[int] = []
        for c in latin:
            if all(math.gcd(c - d, t) == 1 for d in orthogonal):
                orthogonal.append(c)
        return orthogonal + [c for c in latin if c not in orthogonal]


@dataclass(frozen=True)
class TriangularDesign:
    """Every candidate an edge between two blocks; edges taken one perfect matching at a time."""

    name: ClassVar[str] = "triangular"

    def blocks(self, n: int, size: int, replicas: int, seed: int = 0) -> list[Block]:
        _check_parameters(self.name, n, size, replicas)
        if n <= size:
            return [tuple(range(n))]
        if replicas != 2:
            raise InputError(
                "design triangular places every candidate in exactly 2 blocks (an edge between "
                f"two blocks); got replicas={replicas}: use replicas=2, or design=latin, random "
                "or sliding"
            )
        v = math.ceil(2 * n / size)
        while True:
            if v * (v - 1) // 2 >= n:
                members: list[list[int]] = [[] for _ in range(v)]
                for item, (a, b) in enumerate(sorted(self._balanced_edges(v, n))):
                    members[a].append(item)
                    members[b].append(item)
                if max(len(m) for m in members) <= size:
                    return _connected(self.name, [tuple(m) for m in members], n, size, replicas)
            v += 1

    @staticmethod
    def _balanced_edges(v: int, n: int) -> list[tuple[int, int]]:
        """The first n edges of a round-robin 1-factorisation of the complete graph on v vertices
        (a dummy vertex added when v is odd), so vertex degrees differ by at most 2."""
        m = v + v % 2
        edges: list[tuple[int, int]] = []
        for r in range(m - 1):
            matching = [(m - 1, r)] + [
                ((r + i) % (m - 1), (r - i) % (m - 1)) for i in range(1, m // 2)
            ]
            edges += [(min(a, b), max(a, b)) for a, b in matching if a < v and b < v]
        return edges[:n]


@dataclass(frozen=True)
class SlidingDesign:
    """Overlapping circular windows: each window spans `replicas` consecutive segments."""

    name: ClassVar[str] = "sliding"

    def blocks(self, n: int, size: int, replicas: int, seed: int = 0) -> list[Block]:
        _check_parameters(self.name, n, size, replicas)
        if n <= size:
            return [tuple(range(n))]
        if size < replicas:
            raise InputError(
                f"design sliding: block size {size} is smaller than replicas={replicas}"
            )
        w = math.ceil(replicas * n / size)
        bounds = [s * n // w for s in range(w + 1)]  # r consecutive segments: <= ceil(r*n/w)
        segments = [list(range(bounds[s], bounds[s + 1])) for s in range(w)]
        windows = [
            tuple(sorted(m for r in range(replicas) for m in segments[(s + r) % w]))
            for s in range(w)
        ]
        return _connected(self.name, windows, n, size, replicas)


DESIGNS: dict[str, BlockDesign] = {
    d.name: d for d in (RandomDesign(), LatinDesign(), TriangularDesign(), SlidingDesign())
}


def make_design(name: str) -> BlockDesign:
    if name not in DESIGNS:
        raise InputError(f"unknown block design {name!r}; expected one of {', '.join(DESIGNS)}")
    return DESIGNS[name]
