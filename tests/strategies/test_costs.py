"""Each strategy's cost in comparisons and rounds: the formulas stated in its docstring, exact where
the cost is deterministic, as bounds where it depends on the answers."""

from __future__ import annotations

import math

import pytest
from drivers import by_grades, drive, pairwise
from hypothesis import given, settings
from hypothesis import strategies as st
from strategy_helpers import EXACT

from rankpipe.errors import InputError
from rankpipe.strategies import make_strategy

grades_lists = st.lists(st.integers(0, 3), min_size=2, max_size=64)


def log2_ceil(n: int) -> int:
    return (n - 1).bit_length()


@given(grades=grades_lists)
@settings(max_examples=30, deadline=None)
def test_allpairs_asks_every_pair_once_in_one_round(grades: list[int]) -> None:
    n = len(grades)
    driven = drive(make_strategy("allpairs"), n, 10, by_grades(grades))
    assert driven.rounds == 1
    assert {frozenset(p) for p in driven.pairs} == {
        frozenset((a, b)) for a in range(n) for b in range(a)
    }
    assert driven.comparisons == n * (n - 1) // 2


@given(grades=st.lists(st.integers(0, 3), min_size=3, max_size=64), passes=st.integers(1, 12))
@settings(max_examples=60, deadline=None)
def test_sliding_costs_passes_times_n_minus_1_comparisons(grades: list[int], passes: int) -> None:
    n = len(grades)
    bubble = drive(make_strategy(f"sliding:passes={passes}"), n, 10, by_grades(grades))
    assert (bubble.comparisons, bubble.rounds) == (passes * (n - 1), n - 1 + 2 * (passes - 1))
    odd_even = drive(
        make_strategy(f"sliding:passes={passes},variant=odd-even"), n, 10, by_grades(grades)
    )
    assert (odd_even.comparisons, odd_even.rounds) == (passes * (n - 1), 2 * passes)


def test_sliding_defaults_to_top_k_passes_and_prp_sliding_10_costs_990() -> None:
    grades = [i % 4 for i in range(100)]
    driven = drive(make_strategy("sliding"), 100, 10, by_grades(grades))
    assert (driven.comparisons, driven.rounds) == (990, 99 + 18)


@given(grades=grades_lists, top_k=st.integers(1, 64))
@settings(max_examples=60, deadline=None)
def test_tournament_costs(grades: list[int], top_k: int) -> None:
    n, k = len(grades), min(top_k, len(grades))
    first = drive(make_strategy("tournament"), n, 1, by_grades(grades))
    assert (first.comparisons, first.rounds) == (n - 1, log2_ceil(n))
    driven = drive(make_strategy("tournament"), n, k, by_grades(grades))
    assert driven.comparisons <= n - 1 + (k - 1) * (log2_ceil(n) - 1)
    assert driven.rounds <= log2_ceil(n) + (k - 1) * (log2_ceil(n) - 1)


@pytest.mark.parametrize(
    ("sift", "per_step", "rounds_per_step"),
    [("sequential", 2, 2), ("children", 3, 2), ("all", 3, 1)],
)
@given(grades=grades_lists, top_k=st.integers(1, 64))
@settings(max_examples=40, deadline=None)
def test_heapsort_costs(
    sift: str, per_step: int, rounds_per_step: int, grades: list[int], top_k: int
) -> None:
    n, k = len(grades), min(top_k, len(grades))
    h = n.bit_length() - 1
    driven = drive(make_strategy(f"heapsort:sift={sift}"), n, k, by_grades(grades))
    assert driven.comparisons <= per_step * (n + (k - 1) * h)
    assert driven.rounds <= rounds_per_step * (h * (h + 1) // 2 + (k - 1) * h)


@pytest.mark.parametrize("full", [False, True])
@given(grades=grades_lists, top_k=st.integers(1, 64))
@settings(max_examples=40, deadline=None)
def test_mergesort_costs(full: bool, grades: list[int], top_k: int) -> None:
    n, k = len(grades), min(top_k, len(grades))
    limit = n if full else k
    levels = log2_ceil(n)
    driven = drive(make_strategy(f"mergesort:full={full}"), n, k, by_grades(grades))
    assert driven.rounds <= sum(min(2**level - 1, limit) for level in range(1, levels + 1))
    if full:
        assert driven.comparisons <= levels * (n - 1)


@pytest.mark.parametrize("sampler", ["random", "window", "biased"])
@given(n=st.integers(2, 60), per_candidate=st.integers(1, 70))
@settings(max_examples=40, deadline=None)
def test_sparse_asks_its_budget_in_one_round(sampler: str, n: int, per_candidate: int) -> None:
    spec = f"sparse:sampler={sampler},per_candidate={per_candidate}"
    driven = drive(make_strategy(spec), n, 10, pairwise(lambda a, b: 1.0))
    budget = min(n * per_candidate, n * (n - 1) // 2)
    assert driven.rounds == 1
    assert len({frozenset(p) for p in driven.pairs}) == driven.comparisons == budget


def test_sparse_total_budget_and_seed() -> None:
    driven = drive(
        make_strategy("sparse:sampler=random,budget=37,seed=3"), 50, 10, pairwise(lambda a, b: 1.0)
    )
    other = drive(
        make_strategy("sparse:sampler=random,budget=37,seed=4"), 50, 10, pairwise(lambda a, b: 1.0)
    )
    assert driven.comparisons == other.comparisons == 37
    assert driven.pairs != other.pairs


def test_window_samplers_follow_gienapp_et_al() -> None:
    """Structured: each candidate with its next w (wrapping around); biased: log-spaced ones."""
    window = drive(
        make_strategy("sparse:sampler=window,per_candidate=2"), 6, 6, pairwise(lambda a, b: 1.0)
    )
    next_two = {frozenset((a, (a + d) % 6)) for a in range(6) for d in (1, 2)}
    assert {frozenset(p) for p in window.pairs} == next_two and window.comparisons == 12
    biased = drive(
        make_strategy("sparse:sampler=biased,per_candidate=3"), 100, 10, pairwise(lambda a, b: 1.0)
    )
    assert {min((b - a) % 100, (a - b) % 100) for a, b in biased.pairs} == {1, 7, 49}


@pytest.mark.parametrize("spec", [s for s in EXACT if not s.startswith("sliding")])
@given(grades=grades_lists, top_k=st.integers(1, 64))
@settings(max_examples=20, deadline=None)
def test_no_pair_is_asked_twice_and_quick_sorts_stay_below_allpairs(
    spec: str, grades: list[int], top_k: int
) -> None:
    n = len(grades)
    driven = drive(make_strategy(spec), n, min(top_k, n), by_grades(grades))
    assert len({frozenset(p) for p in driven.pairs}) == driven.comparisons <= n * (n - 1) // 2
    assert driven.rounds <= n - 1 or spec.startswith(("heapsort", "mergesort", "tournament"))


def test_quickselect_splits_around_one_pivot_then_orders_the_block_above_all_pairs() -> None:
    """The pivot is at first-stage index floor(1.5 x 10) = 15; 11 candidates beat it: 99 + 55."""
    grades = [0] * 100
    for position in (3, 8, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95):
        grades[position] = 2
    grades[15] = 1
    driven = drive(make_strategy("quickselect"), 100, 10, by_grades(grades))
    assert driven.rounds == 2
    assert driven.comparisons == 99 + 11 * 10 // 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sliding:passes=-1", "passes must be at least 0"),
        ("sliding:variant=zigzag", "variant must be one of bubble, odd-even"),
        ("heapsort:sift=fast", "sift must be one of"),
        ("quickselect:pivots=0", "pivots must be at least 1"),
        ("quickselect:pivot_at=0", "pivot_at must be positive"),
        ("quicksort:allpairs_size=0", "allpairs_size must be at least 1"),
        ("sparse:agg=median", "agg must be one of"),
        ("sparse:budget=0", "must be positive"),
        ("allpairs:agg=max", "agg must be one of"),
        ("tournament:rounds=3", "is not an option; tournament takes full"),
        ("mergesort:full=maybe", "is not a valid bool"),
    ],
)
def test_bad_options_are_input_errors(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_strategy(spec)


def test_log2_ceil() -> None:
    assert [log2_ceil(n) for n in (2, 3, 4, 5, 100, 128, 129)] == [1, 2, 2, 3, 7, 7, 8]
    assert log2_ceil(100) == math.ceil(math.log2(100))
