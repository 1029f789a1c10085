"""Cascade: one strategy's head reordered by another, specs nested with `+`."""

from __future__ import annotations

import pytest

from rankpipe.data.datasets import Dataset
from rankpipe.errors import InputError
from rankpipe.executor import Executor
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.strategies.base import BlockRequest, Comparison
from rankpipe.strategies.cascade import Cascade, nested_spec, on_positions
from rankpipe.strategies.jointrank import JointRank
from rankpipe.strategies.registry import make_strategy


def test_nested_specs_spell_options_with_plus() -> None:
    assert nested_spec("jointrank+block=20+replicas=4") == "jointrank:block=20,replicas=4"
    assert nested_spec("allpairs") == "allpairs"
    cascade = make_strategy(
        "cascade:first=jointrank+block=10+design=latin,then=sliding+passes=3,depth=15"
    )
    assert isinstance(cascade, Cascade) and cascade.depth == 15
    assert cascade.stages[0] == JointRank(block=10, design="latin")
    assert cascade.stages[1] == make_strategy("sliding:passes=3")


def test_bad_nested_specs_name_the_stage() -> None:
    with pytest.raises(InputError, match=r"cascade then=bubble: unknown strategy 'bubble'"):
        make_strategy("cascade:then=bubble")
    with pytest.raises(
        InputError, match=r"cascade first=jointrank\+design=magic: unknown block design"
    ):
        make_strategy("cascade:first=jointrank+design=magic")
    with pytest.raises(InputError, match="depth must be at least 1"):
        make_strategy("cascade:depth=0")


def test_a_strategy_runs_on_a_subset_of_positions() -> None:
    """Requests go out as the subset's positions; block answers come back as the strategy's own."""

    def inner():  # type: ignore[no-untyped-def]
        p = yield [Comparison(0, 1)]
        ranked = yield [BlockRequest((0, 1, 2))]
        return list(ranked[0]) if p[0] > 0.5 else [2, 1, 0]

    driven = on_positions(inner(), [7, 3, 5])
    assert next(driven) == [Comparison(7, 3)]
    assert driven.send([0.9]) == [BlockRequest((7, 3, 5))]
    with pytest.raises(StopIteration) as done:
        driven.send([(5, 7, 3)])
    assert done.value.value == [5, 7, 3]


def test_pairwise_refinement_fixes_the_head_and_keeps_the_tail(demo: Dataset) -> None:
    """A noisy listwise first stage, then all pairs among its top 8 with a perfect pairwise judge:
    the top 8 come out sorted by grade, the rest in the first stage's order; rounds add up."""
    first = "jointrank+block=6+replicas=2+design=sliding+agg=winrate"
    noisy = SimulatedJudge(demo.qrels, noise=0.5, seed=3)
    perfect = SimulatedJudge(demo.qrels)
    alone = Executor(noisy).run(demo.candidates, make_strategy(nested_spec(first)), top_k=5).run

    class Split:
        """Listwise answers from the noisy judge, pairwise answers from the perfect one."""

        reads_text = False
        identity = "split"
        judge = perfect.judge
        rank = noisy.rank

    cascade = make_strategy(f"cascade:first={first},then=allpairs,depth=8")
    results = Executor(Split(), both_orders=False).run(demo.candidates, cascade, top_k=5)
    run, cost = results.run, results.ledger
    changed = 0
    for item in demo.candidates:
        qid = item.query.qid
        head, tail = run[qid].docids[:8], run[qid].docids[8:]
        assert set(head) == set(alone[qid].docids[:8]) and tail == alone[qid].docids[8:]
        grades = [perfect.grade(qid, d) for d in head]
        assert grades == sorted(grades, reverse=True)
        changed += head != alone[qid].docids[:8]
        assert cost.per_query[qid].rounds == 2
        assert cost.per_query[qid].comparisons == 7 + 28  # 7 blocks, then 8 x 7 / 2 pairs
    assert changed > 0


def test_a_listwise_second_stage_composes(demo: Dataset) -> None:
    judge = SimulatedJudge(demo.qrels)
    cascade = make_strategy(
        "cascade:first=first-stage,then=jointrank+block=4+replicas=2+design=sliding,depth=10"
    )
    results = Executor(judge).run(demo.candidates, cascade, top_k=10)
    run, cost = results.run, results.ledger
    for item in demo.candidates:
        qid = item.query.qid
        assert run[qid].docids[10:] == tuple(c.docid for c in item.candidates[10:])
        assert cost.per_query[qid].rounds == 1 and cost.per_query[qid].inferences == 5
