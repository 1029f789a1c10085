"""`sim:grades=overlap`: the sim judge graded by query words in the passage, for any documents."""

from __future__ import annotations

import pytest

from rankpipe.data.types import Candidate, Query
from rankpipe.errors import InputError
from rankpipe.judges.base import PairPrompt
from rankpipe.judges.spec import make_judge

QUERY = Query("q", "life cycle of a flea")


def _pair(a: str, b: str) -> PairPrompt:
    return PairPrompt(QUERY, Candidate("a", a), Candidate("b", b))


def test_more_query_words_win_and_ties_answer_half() -> None:
    judge = make_judge("sim:grades=overlap,tokens=false")
    answers = judge.judge(
        [
            _pair("The flea life cycle has four stages.", "Cats sleep a lot."),
            _pair("Dogs bark.", "A flea bites."),
            _pair("Cycle to work.", "A flea bites."),
        ]
    )
    assert [a.p_a for a in answers] == [1.0, 0.0, 0.5]
    assert judge.identity == "sim:grades=overlap,noise=0.0,bias=0.0,seed=0"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sim:grades=bm25", "grades must be one of overlap"),
        ("sim:grades=overlap,qrels=x.txt", "takes no qrels"),
    ],
)
def test_bad_specs_are_named(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_judge(spec)
