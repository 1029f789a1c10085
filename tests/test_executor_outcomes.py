"""The executor's outcomes keyed by query: any admission order, staggered admission, cancelled
queries, isolated judge failures, and strategies' scores carried through."""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict

import pytest

from rankpipe.data.datasets import Dataset
from rankpipe.data.types import QueryCandidates
from rankpipe.errors import JudgeError
from rankpipe.executor import Executor, Outcome
from rankpipe.judges.base import Judgment, PairPrompt
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.strategies.registry import make_strategy

STRATEGIES = ["heapsort", "quickselect", "allpairs", "setwise", "jointrank:block=6,replicas=2"]


def _by_query(outcomes: Mapping[Hashable, Outcome]) -> dict[Hashable, tuple[object, ...]]:
    """Everything per query but wall time: the order, scores, requests and answers, the costs."""
    kept = {}
    for qid, outcome in outcomes.items():
        cost = asdict(outcome.cost)
        cost.pop("wall_s")
        kept[qid] = (outcome.order, outcome.scores, outcome.answered, outcome.ranking, cost)
    return kept


def _staggered(
    executor: Executor, items: Sequence[QueryCandidates], spec: str, seed: int
) -> dict[str, tuple[object, ...]]:
    """Admit the queries shuffled, a few at a time between waves, as a service would."""
    order = list(items)
    rng = random.Random(seed)
    rng.shuffle(order)
    outcomes = {}
    with executor.session() as session:
        while order or session.active:
            for _ in range(rng.randint(0 if session.active else 1, 3)):
                if order:
                    item = order.pop()
                    session.admit(item, make_strategy(spec), 5, key=item.query.qid)
            for done in session.step():
                outcomes[done.key] = done.outcome
    return _by_query(outcomes)


@pytest.mark.parametrize("spec", STRATEGIES)
def test_shuffled_and_staggered_admission_gives_identical_outcomes(
    demo: Dataset, spec: str
) -> None:
    # a batch large enough that every wave is one judge call, so per-query calls match too
    def executor() -> Executor:
        return Executor(SimulatedJudge(demo.qrels, noise=0.3, seed=7), batch_size=10_000)

    together = _by_query(executor().run(demo.candidates, make_strategy(spec), 5))
    assert list(together) == [item.query.qid for item in demo.candidates]
    for seed in (1, 2):
        staggered = _staggered(executor(), demo.candidates, spec, seed)
        assert list(staggered) != list(together)  # they did finish in another order
        assert dict(staggered) == together


def test_outcomes_are_keyed_by_query_in_the_order_given(demo: Dataset) -> None:
    items = list(reversed(demo.candidates))
    results = Executor(SimulatedJudge(demo.qrels)).run(items, make_strategy("heapsort"), 3)
    assert list(results) == [item.query.qid for item in items] == list(results.ledger.per_query)
    for item in items:
        outcome = results[item.query.qid]
        assert outcome.qid == item.query.qid
        assert outcome.ranking.docids == tuple(item.candidates[i].docid for i in outcome.order)
        assert outcome.forms == {"pair"}
        assert outcome.cost.comparisons == len(outcome.answered)


def test_scores_of_a_scored_order_reach_the_outcome(demo: Dataset) -> None:
    results = Executor(SimulatedJudge(demo.qrels)).run(
        demo.candidates[:2], make_strategy("allpairs"), 5
    )
    for outcome in results.values():
        assert outcome.scores is not None and len(outcome.scores) == len(outcome.order)
        assert list(outcome.scores) == sorted(outcome.scores, reverse=True)
    heap = Executor(SimulatedJudge(demo.qrels)).run(
        demo.candidates[:1], make_strategy("heapsort"), 5
    )
    assert next(iter(heap.values())).scores is None


def test_a_query_given_twice_is_refused(demo: Dataset) -> None:
    item = demo.candidates[0]
    with pytest.raises(ValueError, match=f"query '{item.query.qid}' is given more than once"):
        Executor(SimulatedJudge(demo.qrels)).run([item, item], make_strategy("heapsort"), 3)


def test_a_cancelled_query_stops_costing_judgments(demo: Dataset) -> None:
    judge = SimulatedJudge(demo.qrels)
    executor = Executor(judge)
    with executor.session() as session:
        session.admit(demo.candidates[0], make_strategy("heapsort"), 5, key="stay")
        session.admit(demo.candidates[1], make_strategy("heapsort"), 5, key="leave")
        session.step()
        assert session.cancel("leave") and not session.cancel("leave")
        finished = []
        while session.active:
            finished += session.step()
    assert [done.key for done in finished] == ["stay"]
    alone = Executor(SimulatedJudge(demo.qrels)).run(
        demo.candidates[:1], make_strategy("heapsort"), 5
    )
    assert finished[0].outcome.order == alone[demo.candidates[0].query.qid].order


class FailsOnQuery:
    """A judge that fails every batch holding a prompt of one query."""

    def __init__(self, inner: SimulatedJudge, qid: str) -> None:
        self.inner, self.qid = inner, qid
        self.identity, self.reads_text = inner.identity, inner.reads_text

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        if any(p.query.qid == self.qid for p in prompts):
            raise JudgeError(f"cannot judge {self.qid}")
        return self.inner.judge(prompts)


def test_isolated_failures_fail_only_the_queries_in_the_failed_batch(demo: Dataset) -> None:
    bad = demo.candidates[0].query.qid
    executor = Executor(FailsOnQuery(SimulatedJudge(demo.qrels), bad), batch_size=1)
    done = {}
    with executor.session(isolate_failures=True) as session:
        for item in demo.candidates[:3]:
            session.admit(item, make_strategy("heapsort"), 3, key=item.query.qid)
        while session.active:
            done.update({d.key: d for d in session.step()})
    assert isinstance(done[bad].error, JudgeError) and done[bad].outcome is None
    others = Executor(SimulatedJudge(demo.qrels)).run(
        demo.candidates[1:3], make_strategy("heapsort"), 3
    )
    for qid, outcome in others.items():
        assert done[qid].error is None and done[qid].outcome.order == outcome.order
    # without isolation (a batch run) the error is raised
    with pytest.raises(JudgeError, match="cannot judge"):
        executor.run(demo.candidates[:3], make_strategy("heapsort"), 3)
