"""Costs of the new strategies against their formulas: setwise sets and rounds, num_permutation as
a multiplier, TourRank's stages, PairS against merge sort, adaptive sampling within its budget."""

from __future__ import annotations

import math
import random

import pytest
from drivers import by_grades, drive, ideal
from hypothesis import given, settings
from hypothesis import strategies as st

from rankpipe.strategies import make_strategy
from rankpipe.strategies.base import BestOf, BlockRequest, Comparison
from rankpipe.strategies.setwise import bubble_schedule


def shuffled_grades(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(0, 3) for _ in range(n)]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 120), passes=st.integers(1, 15), c=st.integers(1, 6))
def test_pipelined_bubble_passes_take_windows_plus_two_rounds_per_pass(
    n: int, passes: int, c: int
) -> None:
    rounds = bubble_schedule(n, passes, c)
    windows = sum(len(r) for r in rounds)
    used = min(passes, n - 1)
    assert windows == sum(max(1, math.ceil((n - 1 - j) / c)) for j in range(used))
    assert len(rounds) <= math.ceil((n - 1) / c) + 2 * (used - 1)
    for starts in rounds:  # windows of one round never overlap
        spans = sorted((s, s + c) for s in starts)
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), top_k=st.integers(1, 40), c=st.integers(1, 5), seed=st.integers(0, 99))
def test_pipelined_bubble_sort_equals_passes_one_after_the_other(
    n: int, top_k: int, c: int, seed: int
) -> None:
    """llm-rankers' passes run sequentially against a judge whose answer depends on the set only
    (a hidden score per candidate, so noise between sets but none between orders)."""
    k = min(top_k, n)
    score = {i: random.Random(seed * 1000 + i).random() for i in range(n)}
    order = list(range(n))
    for j in range(k):
        start = n - c - 1
        while True:
            s = max(start, j)
            window = order[s : s + c + 1]
            best = s + window.index(max(window, key=lambda m: score[m]))
            order[s], order[best] = order[best], order[s]
            if start <= j:
                break
            start -= c

    def answer(request: BestOf) -> tuple[float, ...]:
        top = max(request.members, key=lambda m: score[m])
        return tuple(float(m == top) for m in request.members)

    spec = f"setwise:method=bubblesort,num_child={c}"
    assert drive(make_strategy(spec), n, k, answer).order[:k] == order[:k]  # type: ignore[arg-type]


@pytest.mark.parametrize("c", [2, 3, 4])
@pytest.mark.parametrize("method", ["heapsort", "bubblesort"])
def test_num_permutation_shows_each_set_that_many_times(method: str, c: int) -> None:
    grades = shuffled_grades(60, c)
    one = drive(make_strategy(f"setwise:method={method},num_child={c}"), 60, 10, by_grades(grades))
    three = drive(
        make_strategy(f"setwise:method={method},num_child={c},num_permutation=3"),
        60,
        10,
        by_grades(grades),
    )
    assert three.count(BestOf) == 3 * one.count(BestOf)
    assert three.rounds == one.rounds
    assert max(len(r.members) for r in one.asked) == c + 1  # type: ignore[union-attr]
    for first, second in zip(three.asked[::3], three.asked[1::3], strict=True):
        assert second.members == first.members[::-1]  # type: ignore[union-attr]


def test_setwise_heapsort_sets_within_the_heap_bound() -> None:
    """Building a c-ary heap sifts each internal node at most its height; each of the k-1 pops
    after the first sifts the root at most the heap's height."""
    n, k, c = 100, 10, 3
    height = math.ceil(math.log(n * (c - 1) + 1, c)) - 1
    internal = [i for i in range(n) if c * i + 1 < n]
    depth = {0: 0}
    for i in range(1, n):
        depth[i] = depth[(i - 1) // c] + 1
    bound = sum(height - depth[i] for i in internal) + (k - 1) * height
    for seed in range(20):
        grades = shuffled_grades(n, seed)
        driven = drive(make_strategy("setwise"), n, k, by_grades(grades))
        assert driven.count(BestOf) <= bound
        assert driven.order[:k] == ideal(grades)[:k]


def test_tourrank_stages_for_the_top_10_of_100() -> None:
    """100 -> 50 -> 27 -> 14, then one final block: 5 + 3 + 2 + 1 blocks in 4 rounds per
    tournament, the tournaments side by side."""
    grades = shuffled_grades(100, 1)
    for tournaments in (1, 2, 4):
        driven = drive(
            make_strategy(f"tourrank:tournaments={tournaments}"), 100, 10, by_grades(grades)
        )
        assert driven.count(BlockRequest) == 11 * tournaments
        assert driven.rounds == 4
        assert max(len(r.members) for r in driven.asked) <= 20  # type: ignore[union-attr]


def test_pairs_at_beam_1_asks_exactly_what_mergesort_asks() -> None:
    grades = shuffled_grades(100, 2)
    plain = drive(make_strategy("mergesort"), 100, 10, by_grades(grades))
    beam1 = drive(make_strategy("pairs:beam=1"), 100, 10, by_grades(grades))
    assert (beam1.asked, beam1.order) == (plain.asked, plain.order)
    calibrated = drive(make_strategy("pairs:beam=1,calibrate=true"), 100, 10, by_grades(grades))
    assert calibrated.count(Comparison) == 2 * plain.count(Comparison)
    assert calibrated.order == plain.order


@pytest.mark.parametrize("beam", [2, 4])
def test_a_pairs_beam_costs_at_most_beam_times_mergesort(beam: int) -> None:
    for seed in range(5):
        grades = shuffled_grades(100, seed)
        plain = drive(make_strategy("mergesort"), 100, 10, by_grades(grades))
        wide = drive(make_strategy(f"pairs:beam={beam},min_run=1"), 100, 10, by_grades(grades))
        assert plain.count(Comparison) <= wide.count(Comparison)
        assert wide.count(Comparison) <= beam * plain.count(Comparison)
        assert wide.rounds <= plain.rounds + 2


@pytest.mark.parametrize(
    ("spec", "budget", "rounds"),
    [
        ("adaptive", 145, 10),
        ("adaptive:per_candidate=3,rounds=4", 300, 4),
        ("adaptive:budget=120,rounds=2,pivot_at=0", 120, 2),
    ],
)
def test_adaptive_sampling_stays_within_its_budget_and_rounds(
    spec: str, budget: int, rounds: int
) -> None:
    grades = shuffled_grades(100, 3)
    driven = drive(make_strategy(spec), 100, 10, by_grades(grades))
    pairs = [frozenset((r.a, r.b)) for r in driven.asked]  # type: ignore[union-attr]
    assert len(pairs) == len(set(pairs)) <= budget
    assert len(pairs) >= budget - rounds  # the budget is spent
    assert driven.rounds <= rounds
