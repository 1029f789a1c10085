"""Properties of every strategy under random judges (hypothesis): a permutation always comes back;
with a consistent judge the exact strategies find the true top-k, ties kept in first-stage order;
the same answers give the same order."""

from __future__ import annotations

import random

import pytest
from drivers import by_grades, drive, ideal, pairwise
from hypothesis import given, settings
from hypothesis import strategies as st
from strategy_helpers import ANY, EXACT, FULL_ORDERS

from rankpipe.strategies import make_strategy

grades_lists = st.lists(st.integers(0, 3), min_size=1, max_size=40) | st.lists(
    st.integers(0, 10**6), min_size=1, max_size=40, unique=True
)


def arbitrary_judge(seed: int):  # noqa: ANN201
    """An inconsistent judge, the same answer for the same ordered pair: 0, 1/2, 1 or anything."""
    answers: dict[tuple[int, int], float] = {}

    def prefer(a: int, b: int) -> float:
        if (a, b) not in answers:
            rng = random.Random(hash((seed, a, b)))
            answers[(a, b)] = rng.choice([0.0, 0.5, 1.0, rng.random()])
        return answers[(a, b)]

    return prefer


@pytest.mark.parametrize("spec", ANY)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 40), top_k=st.integers(0, 45), seed=st.integers(0, 2**32))
def test_every_strategy_returns_a_permutation(spec: str, n: int, top_k: int, seed: int) -> None:
    driven = drive(make_strategy(spec), n, min(top_k, n), pairwise(arbitrary_judge(seed)))
    assert sorted(driven.order) == list(range(n))


@pytest.mark.parametrize("spec", ANY)
@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 30), top_k=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_the_same_answers_give_the_same_order(spec: str, n: int, top_k: int, seed: int) -> None:
    first = drive(make_strategy(spec), n, min(top_k, n), pairwise(arbitrary_judge(seed)))
    again = drive(make_strategy(spec), n, min(top_k, n), pairwise(arbitrary_judge(seed)))
    assert (again.order, again.asked) == (first.order, first.asked)


@pytest.mark.parametrize("spec", EXACT)
@settings(max_examples=60, deadline=None)
@given(grades=grades_lists, top_k=st.integers(1, 45))
def test_exact_strategies_find_the_true_top_k(spec: str, grades: list[int], top_k: int) -> None:
    k = min(top_k, len(grades))
    driven = drive(make_strategy(spec), len(grades), k, by_grades(grades))
    assert driven.order[:k] == ideal(grades)[:k]
    if spec in FULL_ORDERS:
        assert driven.order == ideal(grades)


@pytest.mark.parametrize("spec", EXACT)
@settings(max_examples=30, deadline=None)
@given(grades=grades_lists, top_k=st.integers(1, 45))
def test_selections_keep_first_stage_order_below_the_top_k(
    spec: str, grades: list[int], top_k: int
) -> None:
    k = min(top_k, len(grades))
    order = drive(make_strategy(spec), len(grades), k, by_grades(grades)).order
    if spec not in FULL_ORDERS and "full=true" not in spec:
        assert order[k:] == sorted(order[k:])


@pytest.mark.parametrize("spec", [*EXACT, "sparse", "sparse:agg=bradley-terry"])
@given(n=st.integers(1, 30), top_k=st.integers(1, 30))
@settings(max_examples=10, deadline=None)
def test_all_ties_keep_first_stage_order(spec: str, n: int, top_k: int) -> None:
    driven = drive(make_strategy(spec), n, min(top_k, n), pairwise(lambda a, b: 0.5))
    assert driven.order == list(range(n))


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 30), passes=st.integers(0, 12), seed=st.integers(0, 2**32))
def test_pipelined_sliding_passes_equal_sequential_prp_sliding(
    n: int, passes: int, seed: int
) -> None:
    """Passes started two steps apart make the same comparisons, with the same outcome, as PRP's
    one-after-the-other passes, even with an inconsistent judge."""
    prefer = arbitrary_judge(seed)
    order, asked = list(range(n)), []
    for _ in range(passes):
        for i in reversed(range(n - 1)):
            asked.append((order[i], order[i + 1]))
            p = prefer(order[i], order[i + 1])
            if p < 0.5 or (p == 0.5 and order[i] > order[i + 1]):
                order[i], order[i + 1] = order[i + 1], order[i]
    spec = f"sliding:passes={passes},full=true"
    driven = drive(make_strategy(spec), n, n, pairwise(prefer))
    assert driven.order == order
    assert sorted(driven.pairs) == sorted(asked)


@settings(max_examples=40, deadline=None)
@given(grades=grades_lists)
def test_odd_even_sliding_sorts_fully_with_half_n_passes(grades: list[int]) -> None:
    n = len(grades)
    spec = f"sliding:variant=odd-even,passes={(n + 1) // 2},full=true"
    assert drive(make_strategy(spec), n, n, by_grades(grades)).order == ideal(grades)


def test_full_tournament_ranks_the_rest_by_the_highest_match_won() -> None:
    """Matches (0,1) and (2,3), then 1 against 3 at the root; 4 has byes up to the root's level."""
    order = drive(make_strategy("tournament:full=true"), 5, 1, by_grades([0, 1, 2, 3, 4])).order
    assert order == [4, 3, 1, 0, 2]  # 3 won at level 2, 1 at level 1, 0 and 2 never won


@settings(max_examples=40, deadline=None)
@given(grades=grades_lists, top_k=st.integers(1, 45))
def test_full_quickselect_keeps_blocks_in_true_order(grades: list[int], top_k: int) -> None:
    """With `full`, the candidates below the top k are all truly below it."""
    n, k = len(grades), min(top_k, len(grades))
    order = drive(make_strategy("quickselect:full=true"), n, k, by_grades(grades)).order
    rank = {c: r for r, c in enumerate(ideal(grades))}
    assert order[:k] == ideal(grades)[:k]
    assert all(rank[c] >= k for c in order[k:])
