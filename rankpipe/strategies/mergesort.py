"""Bottom-up merge sort with the merges of one level run in parallel.

As PairS ranks with pairwise preferences (Liu et al. 2024, "Aligning with Human Judgement: The Role
of Pairwise Preference in Large Language Model Evaluators"): runs of candidates, adjacent in
first-stage order, are merged pairwise, level by level; a merge is sequential (one comparison per
round), the merges of a level share their rounds.

For top-k (the default), a merge stops once it has output top_k candidates: the candidates it did
not output have top_k better ones in their own run and cannot reach the top k. A merge of runs of
sizes a and b costs at most min(a+b-1, top_k) comparisons and as many rounds; summed over the
ceil(log2 n) levels, the rounds are at most the sum over levels l = 1.. of min(2^l - 1, top_k).
With `full`, merges run to the end: a complete merge sort, at most n-1 comparisons per level,
ceil(log2 n) x (n-1) in all. Without `full`, positions below top_k keep first-stage order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rankpipe.strategies.base import PairwiseRun
from rankpipe.strategies.preferences import Preferences
from rankpipe.strategies.procedures import Procedure, first_stage_below, in_parallel


@dataclass
class MergeSort:
    name: ClassVar[str] = "mergesort"
    full: bool = False

    def run(self, n: int, top_k: int) -> PairwiseRun:
        known = Preferences()
        limit = n if self.full else top_k
        runs = [[i] for i in range(n)]
        while len(runs) > 1:
            merges = [
                _merge(runs[i], runs[i + 1], limit, known) for i in range(0, len(runs) - 1, 2)
            ]
            merged = yield from in_parallel(known, merges)
            runs = merged + runs[len(merges) * 2 :]
        order = runs[0] if runs else []
        return order if self.full else first_stage_below(order[:top_k], n)


def _merge(
    left: list[int], right: list[int], limit: int, known: Preferences
) -> Procedure[list[int]]:
    """The best `limit` candidates of two ordered runs, best first."""
    out: list[int] = []
    i = j = 0
    while i < len(left) and j < len(right) and len(out) < limit:
        yield [(left[i], right[j])]
        if known.beats(left[i], right[j]):
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return (out + left[i:] + right[j:])[:limit]
