"""The simulated judge's setwise answers: the pairwise noise model applied to a set."""

from __future__ import annotations

from rankpipe.data.types import Candidate, Query
from rankpipe.judges.base import SetPrompt
from rankpipe.judges.simulated import SimulatedJudge

GRADES = {"q": {"d0": 0, "d1": 2, "d2": 2, "d3": 1, "d4": 3}}
QUERY = Query("q", "a query")


def prompt(*docids: str) -> SetPrompt:
    return SetPrompt(QUERY, tuple(Candidate(d, f"text of {d}") for d in docids))


def test_the_best_grade_wins_and_equal_best_grades_share() -> None:
    judge = SimulatedJudge(GRADES)
    first, second, unjudged = judge.choose(
        [prompt("d0", "d4", "d1"), prompt("d0", "d1", "d2", "d3"), prompt("x", "y")]
    )
    assert first.probs == (0.0, 1.0, 0.0)
    assert second.probs == (0.0, 0.5, 0.5, 0.0)
    assert unjudged.probs == (0.5, 0.5)
    assert all(j.valid for j in (first, second, unjudged))


def test_position_bias_picks_the_first_shown() -> None:
    judge = SimulatedJudge(GRADES, bias=1.0)
    assert judge.choose([prompt("d0", "d4", "d1")])[0].probs == (1.0, 0.0, 0.0)


def test_noise_picks_a_member_of_a_lower_grade_at_the_noise_rate() -> None:
    always = SimulatedJudge(GRADES, noise=1.0)
    for answer in always.choose([prompt("d1", "d4", "d3", "d0")] * 3):
        assert answer.probs[1] == 0.0 and sorted(answer.probs) == [0.0, 0.0, 0.0, 1.0]
    assert always.choose([prompt("d1", "d2")])[0].probs == (0.5, 0.5)  # equal grades: no noise
    qrels = {"q": {f"d{i}": i for i in range(400)}}
    judge = SimulatedJudge(qrels, noise=0.2, seed=3)
    sets = [prompt(f"d{i}", f"d{i + 1}", f"d{i + 2}") for i in range(0, 397)]
    wrong = sum(j.probs[2] != 1.0 for j in judge.choose(sets))
    assert 0.12 < wrong / len(sets) < 0.28


def test_answers_are_a_function_of_seed_query_and_shown_docids() -> None:
    sets = [prompt("d0", "d1", "d3", "d4"), prompt("d4", "d3", "d1", "d0")] * 2
    a = SimulatedJudge(GRADES, noise=0.5, seed=7).choose(sets)
    b = SimulatedJudge(GRADES, noise=0.5, seed=7).choose(sets)
    assert a == b and a[0] == a[2] and a[1] == a[3]
    others = [SimulatedJudge(GRADES, noise=0.5, seed=s).choose(sets[:1])[0] for s in range(20)]
    assert len({o.probs for o in others}) > 1
