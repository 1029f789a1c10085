"""A knockout tournament for the best candidate, then replays of the winner's path for the next.

The knockout is that of Pairwise RM (Liu et al. 2025, "Pairwise RM: Perform Best-of-N Sampling with
Knockout Tournament"): candidates meet in pairs (adjacent in first-stage order), winners advance,
each level of matches in one round. For top-k, the tree is kept: after the winner is taken out, only
the matches on its path are replayed (its former opponents move up), which finds the runner-up
with at most ceil(log2 n) - 1 comparisons (tournament sort, Knuth TAOCP vol. 3, 5.2.3). A replayed
match between two candidates that already met is not asked again.

Cost: n-1 comparisons in ceil(log2 n) rounds for the winner; each of the next k-1 candidates at
most ceil(log2 n) - 1 comparisons, one round each: at most n-1 + (k-1)(ceil(log2 n) - 1)
comparisons in ceil(log2 n) + (k-1)(ceil(log2 n) - 1) rounds (153 and 61 for the top 10 of 100).

A selection strategy: positions below top_k keep first-stage order, or with `full` the order of
how far each candidate went in the final tree (the level of the highest match it won, byes and
ties not counted; equal ones in first-stage order)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rankpipe.strategies.base import PairwiseRun
from rankpipe.strategies.preferences import Preferences
from rankpipe.strategies.procedures import first_stage_below


@dataclass
class Tournament:
    name: ClassVar[str] = "tournament"
    full: bool = False

    def run(self, n: int, top_k: int) -> PairwiseRun:
        if n == 0:
            return []
        known = Preferences()
        depth = (n - 1).bit_length()
        leaves = 2**depth
        # winners by node: node 1 is the final, v's children 2v and 2v+1, leaf of i: leaves + i
        winner: list[int | None] = [
            i - leaves if leaves <= i < leaves + n else None for i in range(2 * leaves)
        ]
        for level in reversed(range(depth)):
            nodes = range(2**level, 2 ** (level + 1))
            matches = [_match(winner, node) for node in nodes]
            yield from known.ask(match for match in matches if match is not None)
            for node in nodes:
                winner[node] = _play(winner, node, known)
        top: list[int] = []
        wanted = min(top_k, n)
        while len(top) < wanted:
            champion = winner[1]
            assert champion is not None
            top.append(champion)
            if len(top) == wanted:
                break
            node = leaves + champion
            winner[node] = None
            while node > 1:
                node //= 2
                match = _match(winner, node)
                if match is not None:
                    yield from known.ask([match])
                winner[node] = _play(winner, node, known)
        if not self.full:
            return first_stage_below(top, n)
        highest_win = dict.fromkeys(range(n), 0)
        for node in range(1, leaves):
            match, held = _match(winner, node), winner[node]
            if match is not None and held is not None and known.p(*match) != 0.5:
                level = depth - node.bit_length() + 1  # 1 for a first-level match
                highest_win[held] = max(highest_win[held], level)
        taken = set(top)
        rest = sorted((i for i in range(n) if i not in taken), key=lambda i: (-highest_win[i], i))
        return top + rest


def _match(winner: list[int | None], node: int) -> tuple[int, int] | None:
    """The pair meeting at `node`, or None when one side is empty (a bye)."""
    left, right = winner[2 * node], winner[2 * node + 1]
    return (left, right) if left is not None and right is not None else None


def _play(winner: list[int | None], node: int, known: Preferences) -> int | None:
    left, right = winner[2 * node], winner[2 * node + 1]
    if left is None or right is None:
        return right if left is None else left
    return left if known.beats(left, right) else right
