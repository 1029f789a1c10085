"""JointRank ("JointRank: Rank Large Set with Single Pass", 2025): rank overlapping blocks listwise
in one parallel round, read the implicit pairwise comparisons off each block ranking, and aggregate
them into one global ranking.

    jointrank:block=20,replicas=4,design=latin,agg=pagerank

Options: `block` (candidates per block), `replicas` (blocks per candidate), `design` (random, latin,
triangular, sliding: see rankpipe.strategies.designs), `agg` (an aggregator of
rankpipe.strategies.aggregate) and `seed` (for the random design). One round; one listwise
inference per block. The defaults, random
20 x 4 with Bradley-Terry, keep the paper's design and replace its PageRank, which ranks worse
(eval/results/jointrank.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import ClassVar

from rankpipe.strategies.aggregate import Outcome, make_aggregator, order_by
from rankpipe.strategies.base import BlockRequest, StrategyRun
from rankpipe.strategies.designs import make_design


def implicit_comparisons(rankings: Sequence[Sequence[int]]) -> list[Outcome]:
    """Every pair in a block ranking (best first) as a won comparison: (winner, loser, 1.0)."""
    return [
        (winner, loser, 1.0) for ranking in rankings for winner, loser in combinations(ranking, 2)
    ]


@dataclass
class JointRank:
    name: ClassVar[str] = "jointrank"
    block: int = 20
    replicas: int = 4
    design: str = "random"
    agg: str = "bradley-terry"
    seed: int = 0

    def __post_init__(self) -> None:
        make_design(self.design)
        make_aggregator(self.agg)
        if self.block < 2 or self.replicas < 1:
            raise ValueError(
                f"block must be >= 2 and replicas >= 1, got block={self.block}, "
                f"replicas={self.replicas}"
            )

    def blocks(self, n: int) -> list[tuple[int, ...]]:
        """The blocks this strategy asks for n candidates (InputError when no design fits)."""
        return make_design(self.design).blocks(n, self.block, self.replicas, self.seed)

    def run(self, n: int, top_k: int) -> StrategyRun:
        if n < 2:
            return list(range(n))
        rankings = yield [BlockRequest(members) for members in self.blocks(n)]
        scores = make_aggregator(self.agg).scores(n, implicit_comparisons(rankings))
        return order_by(scores)
