"""The cost model's arithmetic, on hand-computed cases, and the ledger fields it reads."""

from __future__ import annotations

import pytest
from ask_rounds import AskRounds

from rankpipe.compare.costmodel import CallTimeModel, llm_calls, mean_calls, standalone_cost
from rankpipe.cost import CostLedger, QueryCost
from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.executor import Executor
from rankpipe.judges.simulated import SimulatedJudge


@pytest.mark.parametrize(
    ("rounds", "batch_size", "calls"),
    [
        ([10], 1, 10),
        ([10], 3, 4),  # 3 + 3 + 3 + 1
        ([10], 10, 1),
        ([10], 128, 1),
        ([5, 3, 1], 2, 3 + 2 + 1),
        ([0, 4, 0], 4, 1),  # an empty round costs nothing
        ([], 8, 0),
        ([33, 32, 31], 32, 2 + 1 + 1),
    ],
)
def test_a_round_of_m_prompts_costs_ceil_m_over_b_calls(
    rounds: list[int], batch_size: int, calls: int
) -> None:
    assert llm_calls(rounds, batch_size) == calls


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        llm_calls([3], 0)


def test_calls_per_query_average_the_queries_with_and_without_a_cache() -> None:
    ledger = CostLedger()
    ledger.per_query["q1"] = QueryCost(round_prompts=[4, 2], round_asked=[6, 4])
    ledger.per_query["q2"] = QueryCost(round_prompts=[1], round_asked=[3])
    # b=3: q1 ceil(4/3)+ceil(2/3) = 3, q2 1 -> mean 2; without cache q1 2+2 = 4, q2 1 -> 2.5
    assert mean_calls(ledger, 3) == 2.0
    assert mean_calls(ledger, 3, cached=False) == 2.5
    assert mean_calls(CostLedger(), 3) == 0.0


def _items(n: int = 6) -> list[QueryCandidates]:
    return [
        QueryCandidates(
            Query("q1", "query"), tuple(Candidate(f"d{i}", f"text {i}") for i in range(n))
        )
    ]


def _ledger(both_orders: bool) -> CostLedger:
    items = _items()
    judge = SimulatedJudge({"q1": {f"d{i}": 6 - i for i in range(6)}})
    # round 1 asks (0,1) twice and (2,3); round 2 asks (1,0), already known, and (4,5)
    strategy = AskRounds([[(0, 1), (2, 3), (0, 1)], [(1, 0), (4, 5)]])
    ledger = Executor(judge, batch_size=2, both_orders=both_orders).run(items, strategy, 6).ledger
    return ledger


def test_the_executor_records_the_rounds_the_model_needs_with_both_orders() -> None:
    cost = _ledger(both_orders=True).per_query["q1"]
    assert cost.round_asked == [6, 4]  # comparisons x 2 orders, repeats included
    assert cost.round_prompts == [4, 2]  # (0,1) (1,0) (2,3) (3,2); then (4,5) (5,4)
    assert llm_calls(cost.round_prompts, 3) == 2 + 1
    assert llm_calls(cost.round_asked, 3) == 2 + 2


def test_the_executor_records_the_rounds_the_model_needs_with_one_order() -> None:
    cost = _ledger(both_orders=False).per_query["q1"]
    assert cost.round_asked == [3, 2]
    assert cost.round_prompts == [2, 1]  # {0,1} {2,3}; then {4,5} ((1,0) is answered by (0,1))


def test_standalone_cost_summarises_a_ledger_per_query() -> None:
    cost = standalone_cost(_ledger(both_orders=True), [1, 2, 4])
    assert (cost.queries, cost.comparisons, cost.prompts, cost.distinct_prompts, cost.rounds) == (
        1,
        5,
        10,
        6,
        2,
    )
    assert cost.calls == {1: 6, 2: 2 + 1, 4: 1 + 1}
    assert cost.calls_without_cache == {1: 10, 2: 3 + 2, 4: 2 + 1}


def test_time_model_recovers_an_exact_line() -> None:
    model = CallTimeModel.fit([(b, 0.5 + 0.1 * b) for b in (1, 2, 4, 8, 8, 32)])
    assert model is not None
    assert model.overhead_s == pytest.approx(0.5)
    assert model.per_prompt_s == pytest.approx(0.1)
    assert model.r_squared == pytest.approx(1.0)
    assert (model.calls, model.sizes) == (6, 5)
    # rounds of 5 and 3 prompts at b=2: 3 + 2 calls, 8 prompts -> 5 x 0.5 + 8 x 0.1
    assert model.seconds([5, 3], 2) == pytest.approx(3.3)
    assert model.call_seconds(10) == pytest.approx(1.5)


def test_time_model_keeps_its_coefficients_non_negative() -> None:
    falling = CallTimeModel.fit([(1, 1.0), (2, 0.9), (4, 0.8)])
    assert falling is not None
    assert (falling.per_prompt_s, falling.overhead_s) == (0.0, pytest.approx(0.9))
    proportional = CallTimeModel.fit([(1, 0.05), (2, 0.2), (4, 0.5)])  # the free line has a < 0
    assert proportional is not None
    assert proportional.overhead_s == 0.0
    assert proportional.per_prompt_s == pytest.approx((0.05 + 0.4 + 2.0) / (1 + 4 + 16))


def test_time_model_with_one_call_size_is_flat_and_says_so() -> None:
    model = CallTimeModel.fit([(8, 0.2), (8, 0.4)])
    assert model is not None
    assert (model.overhead_s, model.per_prompt_s, model.sizes) == (pytest.approx(0.3), 0.0, 1)
    assert "one call size" in model.describe()
    assert CallTimeModel.fit([]) is None
