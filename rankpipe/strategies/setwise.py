"""Setwise heapsort and bubble sort: one inference picks the best of c+1 passages.

Zhuang et al. 2024, "A Setwise Approach to Effective and Highly Efficient Zero-Shot Ranking with
Large Language Models" (SIGIR), as ielab/llm-rankers implements it, with its sorts batched:

    setwise:method=heapsort,num_child=3,num_permutation=1

* `heapsort`: a heap with `num_child` children per node; a sift step shows the node and its
  children as one set (`BestOf`) and swaps the node with the best. The sift-downs of one heap level
  touch disjoint subtrees and share rounds; then the top k are popped, one sift-down each.
* `bubblesort`: each pass slides a window of num_child+1 positions from the bottom of the list to
  the top, num_child positions at a time, moving the best of each window to the window's first
  position; pass j brings the j-th best to place j. Like PRP-Sliding here, pass j+1 starts once
  pass j has left the positions its window touches, so the passes run pipelined with the same
  sets and the same result as one after the other.

`num_permutation` (as in llm-rankers) shows every set that many times, in different orders (the
given one, then reversed, then seeded shuffles), and averages the probabilities: setwise's answer to
position bias, in the place of PRP's both orders. Inferences = sets x num_permutation.

A set already judged (the same members, in any order) is not asked again. The best of a set is the
member of highest probability, a tie going to the earliest first-stage position (the tie rule of
pairwise strategies), so under a consistent judge both sorts find the exact top k. Cost for n
candidates, c children, h = the heap's height: heapsort at most the internal nodes' sift depths
plus (k-1) x h sets; bubble sort at most k x ceil((n-1)/c) sets in about ceil((n-1)/c) + 2(k-1)
rounds. A selection: positions below top_k keep first-stage order."""

from __future__ import annotations

import random
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rankpipe.strategies.base import BestOf, StrategyRun
from rankpipe.strategies.procedures import first_stage_below, lockstep

METHODS = ("heapsort", "bubblesort")
Members = tuple[int, ...]
SetProcedure = Generator[list[Members], None, Any]
"""Yields the sets it needs judged; when resumed, their answers are in the shared SetChoices."""


class SetChoices:
    """P(member is the best of its set) for every set judged so far, and asking only the unknown."""

    def __init__(self, permutations: int = 1, seed: int = 0) -> None:
        self.permutations, self.seed = permutations, seed
        self._p: dict[frozenset[int], dict[int, float]] = {}

    def known(self, members: Sequence[int]) -> bool:
        return frozenset(members) in self._p

    def best(self, members: Sequence[int]) -> int:
        """The member of highest probability; a tie goes to the earliest first-stage position."""
        p = self._p[frozenset(members)]
        return min(members, key=lambda m: (-p[m], m))

    def shown(self, members: Members) -> list[Members]:
        """The orders a set is shown in: as given, reversed, then seeded shuffles."""
        orders = [members, members[::-1]][: self.permutations]
        rng = random.Random(f"{self.seed}:{sorted(members)}")
        while len(orders) < self.permutations:
            orders.append(tuple(rng.sample(members, len(members))))
        return orders

    def ask(
        self, sets: Sequence[Members]
    ) -> Generator[list[BestOf], Sequence[Sequence[float]], None]:
        """Ask the sets not yet known as one round (`yield from` it) and remember the answers."""
        new: dict[frozenset[int], Members] = {}
        for members in sets:
            if len(members) > 1 and not self.known(members):
                new.setdefault(frozenset(members), members)
        if not new:
            return
        requests = [BestOf(order) for members in new.values() for order in self.shown(members)]
        answers = yield requests
        totals: dict[frozenset[int], dict[int, float]] = {key: {} for key in new}
        for request, probs in zip(requests, answers, strict=True):
            total = totals[frozenset(request.members)]
            for member, p in zip(request.members, probs, strict=True):
                total[member] = total.get(member, 0.0) + float(p) / self.permutations
        self._p.update(totals)


def sets_in_parallel(
    choices: SetChoices, procedures: Sequence[SetProcedure]
) -> Generator[list[BestOf], Sequence[Sequence[float]], list[Any]]:
    """Run set procedures in lockstep, one round per step; returns their results in order."""
    return (yield from lockstep(choices.ask, procedures))


@dataclass
class Setwise:
    name: ClassVar[str] = "setwise"
    method: Literal["heapsort", "bubblesort"] = "heapsort"
    num_child: int = 3
    num_permutation: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.num_child < 1 or self.num_permutation < 1:
            raise ValueError(
                f"num_child and num_permutation must be at least 1, got {self.num_child} and "
                f"{self.num_permutation}"
            )

    def run(self, n: int, top_k: int) -> StrategyRun:
        choices = SetChoices(self.num_permutation, self.seed)
        if self.method == "heapsort":
            top = yield from self._heapsort(n, top_k, choices)
        else:
            top = yield from self._bubblesort(n, top_k, choices)
        return first_stage_below(top, n)

    def _heapsort(
        self, n: int, top_k: int, choices: SetChoices
    ) -> Generator[list[BestOf], Sequence[Sequence[float]], list[int]]:
        c = self.num_child
        heap = list(range(n))
        levels: list[list[int]] = []
        first = 0
        while first < n:
            width = c ** len(levels)
            levels.append(list(range(first, min(first + width, n))))
            first += width
        for level in reversed(levels[:-1]):
            yield from sets_in_parallel(
                choices, [self._sift_down(heap, n, node, choices) for node in level]
            )
        top: list[int] = []
        size = n
        while len(top) < top_k and size:
            top.append(heap[0])
            size -= 1
            if len(top) == top_k or size == 0:
                break
            heap[0] = heap[size]
            yield from sets_in_parallel(choices, [self._sift_down(heap, size, 0, choices)])
        return top

    def _sift_down(
        self, heap: list[int], size: int, node: int, choices: SetChoices
    ) -> SetProcedure:
        c = self.num_child
        while c * node + 1 < size:
            positions = [node, *range(c * node + 1, min(c * node + c + 1, size))]
            members = tuple(heap[i] for i in positions)
            yield [members]
            best = positions[members.index(choices.best(members))]
            if best == node:
                return
            heap[node], heap[best] = heap[best], heap[node]
            node = best

    def _bubblesort(
        self, n: int, top_k: int, choices: SetChoices
    ) -> Generator[list[BestOf], Sequence[Sequence[float]], list[int]]:
        order = list(range(n))
        for starts in bubble_schedule(n, top_k, self.num_child):
            windows = [tuple(order[s : s + self.num_child + 1]) for s in starts]
            yield from choices.ask(windows)
            for start, members in zip(starts, windows, strict=True):
                best = start + members.index(choices.best(members))
                order[start], order[best] = order[best], order[start]
        return order[:top_k]


def bubble_schedule(n: int, passes: int, c: int) -> list[list[int]]:
    """The window starts of each round: pass j's windows go from n-c-1 down by c to j; a window of
    pass j runs in the same round as pass j-1's next window when it lies wholly below it (pass j-1
    then never touches its positions again)."""
    windows = [_pass_windows(n, j, c) for j in range(min(passes, max(n - 1, 0)))]
    done = [0] * len(windows)
    rounds: list[list[int]] = []
    while done and done[-1] < len(windows[-1]):
        running: list[int] = []
        for j, pass_windows in enumerate(windows):
            if done[j] == len(pass_windows):
                continue
            if running and pass_windows[done[j]] <= windows[running[-1]][done[running[-1]]] + c:
                break
            running.append(j)
        rounds.append([windows[j][done[j]] for j in running])
        for j in running:
            done[j] += 1
    return rounds


def _pass_windows(n: int, j: int, c: int) -> list[int]:
    """Window starts of pass j, bottom first; the last window starts at j."""
    starts = []
    start = n - c - 1
    while True:
        starts.append(max(start, j))
        if start <= j:
            return starts
        start -= c
