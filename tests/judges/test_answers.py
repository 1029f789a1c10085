"""Reading generated answers: pairwise choices and listwise permutations with counted repairs;
label log-probabilities as probabilities (one way for every backend); one warning shape."""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rankpipe.judges.answers import (
    REPAIRED,
    label_probabilities,
    pair_answer,
    pair_probability,
    parse_choice,
    parse_permutation,
    set_answer,
    sigmoid,
    top_label_logprobs,
    unchosen,
    unlabelled,
    warn_unusable,
)
from rankpipe.judges.base import BlockJudgment, Judgment, SetJudgment

LOGPROB = st.floats(min_value=-80.0, max_value=0.0)


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


@given(LOGPROB, LOGPROB)
def test_two_labels_are_the_sigmoid_of_their_margin_exactly(first: float, second: float) -> None:
    """The hf judge's P(A) = sigmoid(log P(A) - log P(B)) and mass are kept to the last bit; the
    vllm and openai judges' P(A) / (P(A) + P(B)) within rounding."""
    p_first, mass = pair_probability(first, second)
    assert p_first == sigmoid(first - second)
    assert mass == math.exp(first) + math.exp(second)
    a, b = math.exp(first), math.exp(second)
    assert p_first == pytest.approx(a / (a + b), rel=1e-12, abs=1e-300)


@given(st.lists(LOGPROB, min_size=2, max_size=8))
def test_labels_are_renormalised_over_themselves(logprobs: list[float]) -> None:
    probs, mass = label_probabilities(logprobs)
    plain = [math.exp(x) for x in logprobs]
    assert probs == pytest.approx([x / sum(plain) for x in plain], rel=1e-12, abs=1e-300)
    assert math.fsum(probs) == pytest.approx(1.0) and mass == sum(plain)
    assert set_answer(logprobs, min_mass=mass) == (probs, True)


def test_labels_without_probability_are_uniform_and_never_valid() -> None:
    assert label_probabilities([-math.inf, -math.inf, -math.inf]) == ((1 / 3,) * 3, 0.0)
    assert label_probabilities([math.nan, -0.1]) == ((0.5, 0.5), 0.0)
    assert label_probabilities([-math.inf, math.log(0.25)]) == ((0.0, 1.0), 0.25)
    assert pair_answer(-math.inf, -math.inf, min_mass=0.0) == (0.5, False)
    assert pair_answer(-900.0, -901.0, min_mass=0.0) == (0.5, False)  # no mass in a float
    assert set_answer([-math.inf] * 4, min_mass=0.0) == ((0.25,) * 4, False)


def test_an_answer_below_min_mass_is_invalid_and_scored_neutrally() -> None:
    first, second = math.log(0.3), math.log(0.1)
    assert pair_answer(first, second, min_mass=0.4) == (pytest.approx(0.75), True)
    assert pair_answer(first, second, min_mass=0.5) == (0.5, False)
    assert set_answer([first, second], min_mass=0.5) == ((0.5, 0.5), False)


def test_labels_from_a_servers_top_logprobs() -> None:
    top = {" A": math.log(0.3), "A": math.log(0.1), " the": math.log(0.05), " C": math.log(0.2)}
    assert top_label_logprobs(top, ["A", "B", "C"]) == pytest.approx(
        (math.log(0.4), math.log(0.05), math.log(0.2))
    )  # " A" and "A" summed; B unlisted: the smallest listed, an upper bound
    assert top_label_logprobs({" A": -0.5}, ["A"]) == (-0.5,)  # one token: exactly as sent
    assert top_label_logprobs({" the": -0.1}, ["A", "B"]) == (-math.inf, -math.inf)


def test_one_warning_shape_for_unusable_answers(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("rankpipe.judges.test")
    pairs = [Judgment(0.5, valid=False), Judgment(0.9), Judgment(0.5, valid=False)]
    sets = [SetJudgment((0.5, 0.5), valid=False), SetJudgment((1.0, 0.0))]
    blocks = [
        BlockJudgment((0, 1), repairs=2),
        BlockJudgment((1, 0)),
        BlockJudgment((0, 1), repairs=1),
    ]
    with caplog.at_level(logging.WARNING, logger="rankpipe.judges.test"):
        warn_unusable(log, "judge", pairs, unchosen(("A", "B"), 0.5))
        warn_unusable(log, "judge", sets, unlabelled())
        warn_unusable(log, "judge", blocks, REPAIRED)
        warn_unusable(log, "judge", [Judgment(0.7)], unchosen(("A", "B")))
    assert [r.getMessage() for r in caplog.records] == [
        "judge: 2 of 3 answers were neither A nor B (P(A+B) below min_mass=0.5); scored 0.5",
        "judge: 1 of 2 setwise answers named no shown label; scored uniform",
        "judge: 2 of 3 rankings needed repairs (3 identifiers fixed)",
    ]
