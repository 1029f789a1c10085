"""The `openai` backend's setwise form (`choose`) against a local fake server: P(each shown label)
from one token's top log-probabilities, the answer text as a one-hot when there are none, an answer
naming no shown label uniform and counted invalid, and the setwise prompt in the identity."""

from __future__ import annotations

import logging
import math

import pytest
from fake_server import MODEL, completion

from rankpipe.data.types import Candidate, Query
from rankpipe.errors import InputError
from rankpipe.judges.answers import label_probabilities, set_answer, top_label_logprobs
from rankpipe.judges.base import SetPrompt, setwise_form
from rankpipe.judges.openai import OpenAIJudge
from rankpipe.judges.spec import make_judge


def sets(*sizes: int) -> list[SetPrompt]:
    query = Query("q1", "what do bees eat")
    return [
        SetPrompt(query, tuple(Candidate(f"d{n}-{i}", f"passage {i} of set {n}") for i in range(k)))
        for n, k in enumerate(sizes)
    ]


def plain(url: str, options: str = "") -> OpenAIJudge:
    judge = make_judge(f"openai:{MODEL}@{url},format=plain,backoff=0{options}")
    assert isinstance(judge, OpenAIJudge)
    return judge


def test_probabilities_of_the_shown_labels_come_from_the_top_logprobs(serve) -> None:  # noqa: ANN001
    top = {" B": math.log(0.5), " A": math.log(0.2), "C": math.log(0.1), " D": math.log(0.1)}
    fake = serve(lambda r, n: (200, completion(" B", top)))
    judge = plain(fake.url)
    assert setwise_form(judge) is judge
    [three] = judge.choose(sets(3))
    assert three.valid and three.probs == pytest.approx((0.2 / 0.8, 0.5 / 0.8, 0.1 / 0.8))
    assert (three.prompt_tokens, three.completion_tokens) == (57, 1)
    sent = fake.requests[0]["prompt"]
    assert 'Passage A: "passage 0 of set 0"' in sent and 'Passage C: "passage 2 of set 0"' in sent
    assert "Passage D" not in sent and sent.endswith("Passage")
    assert (fake.requests[0]["max_tokens"], fake.requests[0]["logprobs"]) == (1, 20)


def test_a_shown_label_missing_from_the_top_gets_the_smallest_listed_probability() -> None:
    logprobs = top_label_logprobs({" A": math.log(0.6), " the": math.log(0.05)}, ["A", "B", "C"])
    probs, mass = label_probabilities(logprobs)
    assert probs == pytest.approx((0.6 / 0.7, 0.05 / 0.7, 0.05 / 0.7))
    assert mass == pytest.approx(0.7)
    unlisted = top_label_logprobs({" the": -0.1}, ["A", "B"])
    assert unlisted == (-math.inf, -math.inf)
    assert set_answer(unlisted, min_mass=0.0) == ((0.5, 0.5), False)


def test_without_logprobs_the_named_label_is_a_one_hot(serve) -> None:  # noqa: ANN001
    fake = serve(lambda r, n: (200, completion(" C", None)))
    [judgment] = plain(fake.url, ",logprobs=0").choose(sets(4))
    assert judgment.valid and judgment.probs == (0.0, 0.0, 1.0, 0.0)
    assert "logprobs" not in fake.requests[0]


def test_an_answer_naming_no_shown_label_is_uniform_and_counted(serve, caplog) -> None:  # noqa: ANN001
    answers = {2: completion(" C", None), 3: completion(" E", None)}  # E is not shown in a set of 3
    fake = serve(lambda r, n: (200, answers[r["prompt"].count("Passage ")]))
    judge = plain(fake.url, ",logprobs=0,concurrency=1")
    with caplog.at_level(logging.WARNING, logger="rankpipe.judges"):
        two, three = judge.choose(sets(2, 3))
    assert not two.valid and two.probs == (0.5, 0.5)  # " C" is not among the two shown labels
    assert not three.valid and three.probs == pytest.approx((1 / 3,) * 3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2 of 2 setwise answers named no shown label" in warnings[0]


def test_the_setwise_prompt_is_part_of_the_identity_and_checked_for_its_kind() -> None:
    judge = make_judge(f"openai:{MODEL}@http://127.0.0.1:1/v1,format=plain")
    assert ",set_prompt=setwise#" in judge.identity
    with pytest.raises(InputError, match="takes a setwise one"):
        make_judge(f"openai:{MODEL}@http://127.0.0.1:1/v1,format=plain,set_prompt=prp")
