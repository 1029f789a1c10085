"""The wire shape's mappings: identifiers from texts, and relevance scores in [0, 1] falling with
rank."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rankpipe.serve.api import RerankRequest, relevance_scores, to_candidates


def test_identifiers_follow_the_texts_and_repeats_stay_apart() -> None:
    one = to_candidates(RerankRequest(query="flea", documents=["a", {"text": "b"}, "a"]))
    two = to_candidates(RerankRequest(query="flea", documents=["b", "a"]))
    assert one.query == two.query
    assert [c.docid for c in one.candidates][:2] == [c.docid for c in two.candidates][::-1]
    assert one.candidates[2].docid == one.candidates[0].docid + "~2"
    assert [c.rank for c in one.candidates] == [1, 2, 3]


def test_scores_by_rank_without_strategy_scores() -> None:
    assert relevance_scores((2, 0, 1, 3), None) == [1.0, 0.75, 0.5, 0.25]
    assert relevance_scores((0,), None) == [1.0]
    assert relevance_scores((1, 0), (3.0, 3.0)) == [1.0, 0.5]  # all tied: by rank


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30),
    st.integers(0, 10),
)
def test_strategy_scores_rescale_into_0_1_never_rising(scores: list[float], extra: int) -> None:
    order = tuple(range(len(scores) + extra))
    result = relevance_scores(order, sorted(scores, reverse=True))
    assert len(result) == len(order)
    assert all(0.0 <= s <= 1.0 and math.isfinite(s) for s in result)
    assert all(a >= b for a, b in zip(result, result[1:], strict=False))
    assert result[0] == 1.0


@pytest.mark.parametrize("scores", [(1.0, math.inf), (math.nan, 0.0)])
def test_scores_not_finite_fall_back_to_rank(scores: tuple[float, ...]) -> None:
    assert relevance_scores((0, 1), scores) == [1.0, 0.5]
