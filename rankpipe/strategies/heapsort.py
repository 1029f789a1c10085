"""PRP-Sorting by heapsort: build a max-heap, pop the top k.

Qin et al. 2023, "Large Language Models are Effective Text Rankers with Pairwise Ranking Prompting",
as implemented in llm-rankers (Zhuang et al. 2024, "A Setwise Approach to Effective and Highly
Efficient Zero-Shot Ranking with Large Language Models"), with its sorts batched: the sift-downs of
one heap level touch disjoint subtrees and run in the same rounds, and a sift step can ask its
comparisons together. Pairs already judged are not asked again.

A selection strategy: the top_k positions are decided (exactly, for a consistent judge); the rest
keep first-stage order (a heap holds no order worth keeping)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from rankpipe.strategies.base import PairwiseRun
from rankpipe.strategies.preferences import Preferences
from rankpipe.strategies.procedures import Procedure, first_stage_below, in_parallel

SIFTS = ("sequential", "children", "all")


@dataclass
class HeapSort:
    """A sift step finds the best of a node and its two children; `sift` says how:

    * `sequential` (llm-rankers): left child against the node, then right child against the winner:
      2 comparisons in 2 rounds;
    * `children`: both children against the node in one round, then the children against each
      other only if both won: 2 or 3 comparisons in 1 or 2 rounds;
    * `all`: the three comparisons in one round: 3 comparisons in 1 round.

    With h = floor(log2 n), at most c x (n + (k-1) x h) comparisons in r x (h(h+1)/2 + (k-1) x h)
    rounds, (c, r) = (2, 2), (3, 2) and (3, 1) for the three sifts: building the heap takes at
    most n sift steps and h(h+1)/2 rounds of steps (one level at a time), each of the k-1 pops
    after the first at most h steps."""

    name: ClassVar[str] = "heapsort"
    sift: Literal["sequential", "children", "all"] = "children"

    def __post_init__(self) -> None:
        if self.sift not in SIFTS:
            raise ValueError(f"sift must be one of {', '.join(SIFTS)}, got {self.sift!r}")

    def run(self, n: int, top_k: int) -> PairwiseRun:
        known = Preferences()
        heap = list(range(n))
        height = n.bit_length() - 1
        for depth in reversed(range(height)):
            nodes = [node for node in range(2**depth - 1, 2 ** (depth + 1) - 1) if 2 * node + 1 < n]
            yield from in_parallel(known, [self._sift_down(heap, n, node, known) for node in nodes])
        top: list[int] = []
        size = n
        while len(top) < top_k:
            top.append(heap[0])
            size -= 1
            if len(top) == top_k or size == 0:
                break
            heap[0] = heap[size]
            yield from in_parallel(known, [self._sift_down(heap, size, 0, known)])
        return first_stage_below(top, n)

    def _sift_down(
        self, heap: list[int], size: int, node: int, known: Preferences
    ) -> Procedure[None]:
        while True:
            children = [c for c in (2 * node + 1, 2 * node + 2) if c < size]
            if not children:
                return
            parent = heap[node]
            if self.sift != "sequential":
                siblings = [(heap[children[0]], heap[c]) for c in children[1:]]
                yield [(parent, heap[c]) for c in children] + (
                    siblings if self.sift == "all" else []
                )
            best = node
            for child in children:
                if self.sift == "children" and best != node:
                    if not known.beats(heap[child], parent):
                        continue
                    yield [(heap[best], heap[child])]
                elif self.sift == "sequential":
                    yield [(heap[best], heap[child])]
                if known.beats(heap[child], heap[best]):
                    best = child
            if best == node:
                return
            heap[node], heap[best] = heap[best], heap[node]
            node = best
