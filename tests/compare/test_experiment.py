"""Strategies sharing one cache: stand-alone costs stay, actual spend drops, calls are timed."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from compare_helpers import AllPairs, Bubble, WordCountingJudge

from rankpipe.cache import MemoryCache
from rankpipe.compare.experiment import Configuration, run_experiment
from rankpipe.compare.summary import summarize
from rankpipe.data.datasets import Dataset
from rankpipe.judges.simulated import SimulatedJudge

SIZES = [1, 2, 8, 32]


def _judge(demo: Dataset) -> WordCountingJudge:
    assert demo.qrels is not None
    return WordCountingJudge(SimulatedJudge(demo.qrels, noise=0.1, seed=3))


@pytest.mark.parametrize("orders", ["both", "one"])
def test_standalone_cost_does_not_depend_on_what_the_cache_already_holds(
    demo: Dataset, orders: str
) -> None:
    assert demo.qrels is not None
    bubble = Configuration(Bubble(passes=3), orders)
    alone = run_experiment(
        demo.candidates, demo.qrels, _judge(demo), [bubble], cache=MemoryCache(), batch_size=4
    )
    shared = run_experiment(
        demo.candidates,
        demo.qrels,
        _judge(demo),
        [
            Configuration(Bubble(passes=1), orders),
            Configuration(AllPairs(), orders),
            bubble,
        ],
        cache=MemoryCache(),
        batch_size=4,
    )
    first, later = alone.trials[0], shared.trials[2]
    for qid, cost in first.ledger.per_query.items():
        other = later.ledger.per_query[qid]
        for name in (
            "comparisons",
            "unique_comparisons",
            "prompts",
            "standalone_inferences",
            "rounds",
            "round_prompts",
            "round_asked",
            "standalone_prompt_tokens",
            "standalone_completion_tokens",
        ):
            assert getattr(other, name) == getattr(cost, name), (qid, name)
    assert asdict(summarize(shared, SIZES).rows[2].cost) == asdict(
        summarize(alone, SIZES).rows[0].cost
    )
    assert first.run == later.run
    # alone it ran every distinct prompt; after the others it runs fewer: none with both orders
    # (all-pairs asked every prompt), with one order those that no earlier strategy asked
    alone_total, later_total = first.ledger.total(), later.ledger.total()
    assert (
        alone_total["inferences"]
        == alone_total["standalone_inferences"]
        > later_total["inferences"]
    )
    assert alone_total["prompt_tokens"] > later_total["prompt_tokens"]
    assert later_total["standalone_prompt_tokens"] == alone_total["prompt_tokens"] > 0
    assert sum(c.prompts for c in later.calls) == later_total["inferences"]
    if orders == "both":
        assert later_total["inferences"] == 0 and later.calls == []


def test_telemetry_records_every_judge_call_of_the_comparison(demo: Dataset) -> None:
    assert demo.qrels is not None
    configurations = [Configuration(Bubble(passes=2)), Configuration(AllPairs(), orders="one")]
    experiment = run_experiment(
        demo.candidates, demo.qrels, _judge(demo), configurations, batch_size=16
    )
    for trial in experiment.trials:
        total = trial.ledger.total()
        assert sum(c.prompts for c in trial.calls) == total["inferences"]
        assert len(trial.calls) == total["judge_calls"]
        assert all(
            1 <= c.prompts <= 16 and c.kind == "pair" and c.seconds >= 0 for c in trial.calls
        )
        assert trial.kinds == {"pair"}
    assert experiment.calls == [c for t in experiment.trials for c in t.calls]


def test_summary_tests_every_strategy_against_the_best(demo: Dataset) -> None:
    assert demo.qrels is not None
    configurations = [
        Configuration(Bubble(passes=1)),
        Configuration(AllPairs()),
        Configuration("first-stage"),
    ]
    experiment = run_experiment(demo.candidates, demo.qrels, _judge(demo), configurations)
    summary = summarize(experiment, SIZES)
    values = {row.label: row.metrics["nDCG@10"] for row in summary.rows}
    assert summary.best == max(values, key=values.__getitem__)
    best = summary.row(summary.best)
    assert best.p_vs_best == {}
    others = [row for row in summary.rows if row.label != summary.best]
    assert all(set(row.p_vs_best) == set(experiment.metrics) for row in others)
    free = summary.row("first-stage")
    assert free.cost.distinct_prompts == 0 and free.predicted_s == dict.fromkeys(SIZES, 0.0)
    assert free.metrics == experiment.first_stage.aggregate
    cheapest = summary.cheapest(1)
    assert cheapest is not None and cheapest.label != "first-stage"
    assert cheapest.cost.calls[1] == min(
        r.cost.calls[1] for r in others + [best] if r.cost.distinct_prompts
    )


def test_queries_outside_the_candidates_are_not_scored(demo: Dataset) -> None:
    assert demo.qrels is not None
    few = demo.candidates[:3]
    experiment = run_experiment(few, demo.qrels, _judge(demo), [Configuration("first-stage")])
    assert set(experiment.trials[0].evaluation.per_query) == {item.query.qid for item in few}


def test_setwise_calls_are_timed_and_get_a_time_model(demo: Dataset) -> None:
    """Every request form is timed call by call (setwise calls once were not)."""
    assert demo.qrels is not None
    judge = SimulatedJudge(demo.qrels, noise=0.1, seed=3)
    experiment = run_experiment(
        demo.candidates,
        demo.qrels,
        judge,
        [Configuration("setwise"), Configuration("heapsort")],
        cache=MemoryCache(),
        batch_size=4,
    )
    kinds = {call.kind for call in experiment.calls}
    assert kinds == {"set", "pair"}
    summary = summarize(experiment, SIZES)
    assert set(summary.time_models) == {"set", "pair"}
    setwise = summary.row("setwise")
    assert setwise.requests == "setwise" and setwise.spend.predicted_judge_s is not None
