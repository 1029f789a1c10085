"""Properties of the new strategies under random judges (hypothesis): a permutation always comes
back; the same answers give the same order; with a consistent judge the exact ones (setwise heapsort
and bubble sort, PairS) find the true top k, ties kept in first-stage order, and keep first-stage
order below it."""

from __future__ import annotations

import pytest
from drivers import arbitrary, by_grades, drive, ideal
from hypothesis import given, settings
from hypothesis import strategies as st

from rankpipe.strategies import make_strategy

EXACT = [
    "setwise",
    "setwise:num_child=2",
    "setwise:num_child=5,num_permutation=3",
    "setwise:method=bubblesort",
    "setwise:method=bubblesort,num_child=1",
    "setwise:method=bubblesort,num_child=4,num_permutation=2",
    "pairs:beam=1",
    "pairs:beam=1,calibrate=true",
]
ANY = [
    *EXACT,
    "pairs",
    "pairs:beam=4,min_run=1",
    "tourrank",
    "tourrank:tournaments=3,group=4,keep=0.4",
    "adaptive",
    "adaptive:rounds=3,per_candidate=4,pivot_at=0",
]
grades_lists = st.lists(st.integers(0, 3), min_size=1, max_size=40) | st.lists(
    st.integers(0, 10**6), min_size=1, max_size=40, unique=True
)


@pytest.mark.parametrize("spec", ANY)
@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 40), top_k=st.integers(0, 45), seed=st.integers(0, 2**32))
def test_every_strategy_returns_a_permutation(spec: str, n: int, top_k: int, seed: int) -> None:
    driven = drive(make_strategy(spec), n, min(top_k, n), arbitrary(seed))
    assert sorted(driven.order) == list(range(n))


@pytest.mark.parametrize("spec", ANY)
@settings(max_examples=8, deadline=None)
@given(n=st.integers(2, 30), top_k=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_the_same_answers_give_the_same_order(spec: str, n: int, top_k: int, seed: int) -> None:
    first = drive(make_strategy(spec), n, min(top_k, n), arbitrary(seed))
    again = drive(make_strategy(spec), n, min(top_k, n), arbitrary(seed))
    assert (again.order, again.asked) == (first.order, first.asked)


@pytest.mark.parametrize("spec", EXACT)
@settings(max_examples=50, deadline=None)
@given(grades=grades_lists, top_k=st.integers(1, 45))
def test_exact_strategies_find_the_true_top_k(spec: str, grades: list[int], top_k: int) -> None:
    k = min(top_k, len(grades))
    order = drive(make_strategy(spec), len(grades), k, by_grades(grades)).order
    assert order[:k] == ideal(grades)[:k]
    assert order[k:] == sorted(order[k:])


@pytest.mark.parametrize("beam", [2, 3, 5])
@settings(max_examples=40, deadline=None)
@given(grades=grades_lists, top_k=st.integers(1, 45))
def test_a_pairs_beam_finds_the_top_k_grades_under_a_consistent_judge(
    beam: int, grades: list[int], top_k: int
) -> None:
    """Hypotheses branch only where the judge says 0.5 (equal grades), so every one is right up
    to the order of equal grades."""
    k = min(top_k, len(grades))
    spec = f"pairs:beam={beam},min_run=1"
    order = drive(make_strategy(spec), len(grades), k, by_grades(grades)).order
    assert [grades[i] for i in order[:k]] == [grades[i] for i in ideal(grades)[:k]]


@pytest.mark.parametrize("spec", [*EXACT, "pairs"])
@given(n=st.integers(1, 30), top_k=st.integers(1, 30))
@settings(max_examples=10, deadline=None)
def test_all_ties_keep_first_stage_order(spec: str, n: int, top_k: int) -> None:
    assert drive(make_strategy(spec), n, min(top_k, n), by_grades([0] * n)).order == list(range(n))
