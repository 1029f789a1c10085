"""Reading generated answers: pairwise choices and listwise permutations with counted repairs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rankpipe.judges.answers import parse_choice, parse_permutation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A", 0),
        (" B", 1),
        ("Passage A", 0),
        ("passage b.", 1),
        ("Passage B is more relevant to the query.", 1),
        ("I think B answers it best", 1),
        ("A, because passage B is off-topic", 0),  # the first word decides
        ("Both A and B are relevant", None),
        ("Neither", None),
        ("", None),
        ("Passage C", None),
    ],
)
def test_parse_choice(text: str, expected: int | None) -> None:
    assert parse_choice(text) == expected


def test_parse_choice_other_choices_and_prefix() -> None:
    assert parse_choice("Answer: yes", choices=("yes", "no"), answer_prefix="Answer:") == 0
    assert parse_choice("NO", choices=("yes", "no"), answer_prefix="Answer:") == 1
    assert parse_choice("maybe", choices=("yes", "no")) is None


@pytest.mark.parametrize(
    ("text", "k", "order", "repairs"),
    [
        ("[2] > [3] > [1]", 3, (1, 2, 0), 0),
        ("2 > 3 > 1", 3, (1, 2, 0), 0),
        ("[2] > [2] > [1] > [3]", 3, (1, 0, 2), 1),  # a repeat is dropped
        ("[4] > [1] > [2] > [3]", 3, (0, 1, 2), 1),  # out of range
        ("[0] > [3] > [1]", 3, (2, 0, 1), 2),  # [0] dropped, [2] appended
        ("[3]", 3, (2, 0, 1), 2),  # the missing two keep their shown order
        ("I cannot rank these passages.", 4, (0, 1, 2, 3), 4),
        ("[10] > [9] > [1]", 10, (9, 8, 0, 1, 2, 3, 4, 5, 6, 7), 7),
    ],
)
def test_parse_permutation(text: str, k: int, order: tuple[int, ...], repairs: int) -> None:
    assert parse_permutation(text, k) == (order, repairs)


@given(st.text(max_size=60), st.integers(min_value=1, max_value=25))
def test_parse_permutation_always_returns_a_permutation(text: str, k: int) -> None:
    order, repairs = parse_permutation(text, k)
    assert sorted(order) == list(range(k))
    assert repairs >= 0


@given(st.permutations(range(12)))
def test_parse_permutation_reads_a_clean_ranking_without_repairs(order: list[int]) -> None:
    text = " > ".join(f"[{i + 1}]" for i in order)
    assert parse_permutation(text, 12) == (tuple(order), 0)
