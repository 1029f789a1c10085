"""From block rankings to one order: implicit comparisons, then aggregation."""

from __future__ import annotations

import random

import pytest

from rankpipe.strategies.aggregate import make_aggregator, order_by
from rankpipe.strategies.designs import make_design
from rankpipe.strategies.jointrank import implicit_comparisons

AGGREGATORS = ["winrate", "pagerank", "bradley-terry"]


def consistent_rankings(blocks: list[tuple[int, ...]], strength: list[int]) -> list[list[int]]:
    """Each block ranked by a hidden strength, best first: what a perfect listwise judge answers."""
    return [sorted(block, key=lambda m: -strength[m]) for block in blocks]


def test_every_pair_of_a_block_ranking_is_a_comparison() -> None:
    assert implicit_comparisons([[2, 0, 1]]) == [(2, 0, 1.0), (2, 1, 1.0), (0, 1, 1.0)]
    assert len(implicit_comparisons([list(range(20))] * 4)) == 4 * 190


@pytest.mark.parametrize("agg", AGGREGATORS)
def test_a_block_holding_everything_gives_back_its_ranking(agg: str) -> None:
    strength = random.Random(0).sample(range(15), 15)
    outcomes = implicit_comparisons(consistent_rankings([tuple(range(15))], strength))
    truth = sorted(range(15), key=lambda m: -strength[m])
    assert order_by(make_aggregator(agg).scores(15, outcomes)) == truth


@pytest.mark.parametrize("agg", AGGREGATORS)
def test_a_design_covering_every_pair_recovers_the_true_order(agg: str) -> None:
    """A 7 x 7 grid with all 8 parallel classes: every pair meets exactly once."""
    blocks = make_design("latin").blocks(49, 7, 8)
    strength = random.Random(1).sample(range(49), 49)
    outcomes = implicit_comparisons(consistent_rankings(blocks, strength))
    assert order_by(make_aggregator(agg).scores(49, outcomes)) == sorted(
        range(49), key=lambda m: -strength[m]
    )


@pytest.mark.parametrize(
    ("design", "n", "size", "replicas"),
    [
        ("random", 60, 10, 3),
        ("latin", 60, 10, 3),
        ("sliding", 60, 10, 3),
        ("triangular", 55, 10, 2),
    ],
)
def test_bradley_terry_respects_every_observed_comparison(
    design: str, n: int, size: int, replicas: int
) -> None:
    """Sparse designs cannot pin down the whole order, but Bradley-Terry keeps every comparison a
    consistent judge made, and its order agrees with the truth on most pairs."""
    blocks = make_design(design).blocks(n, size, replicas, seed=3)
    strength = random.Random(2).sample(range(n), n)
    outcomes = implicit_comparisons(consistent_rankings(blocks, strength))
    order = order_by(make_aggregator("bradley-terry").scores(n, outcomes))
    position = {m: i for i, m in enumerate(order)}
    assert all(position[winner] < position[loser] for winner, loser, _ in outcomes)
    agree = sum(
        (position[a] < position[b]) == (strength[a] > strength[b])
        for a in range(n)
        for b in range(a)
    )
    assert agree / (n * (n - 1) / 2) > 0.9


def test_bradley_terry_stays_finite_and_ordered_under_perfect_separation() -> None:
    """A chain 0 > 1 > 2 > 3 where 0 never loses and 3 never wins: unregularised maximum likelihood
    diverges (JointRank's own aggregator then scores all equal); an L2 prior keeps the order."""
    scores = make_aggregator("bradley-terry").scores(
        4, implicit_comparisons([[0, 1], [1, 2], [2, 3]])
    )
    assert all(abs(s) < 100 for s in scores)
    assert scores[0] > scores[1] > scores[2] > scores[3]
