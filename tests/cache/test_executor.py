"""The executor: cross-query batching, deduplication, orders, caching, and the cost ledger's
arithmetic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import pytest
from ask_rounds import AskRounds

from rankpipe.cache import MemoryCache, SQLiteCache
from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.errors import JudgeError
from rankpipe.executor import Executor
from rankpipe.judges.base import Judgment, PairPrompt
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.strategies.base import Comparison, PairwiseRun


class CountingJudge:
    """Decorates a judge to count its calls and their sizes; fails on call `fail_on_call` when
    set."""

    def __init__(self, inner: SimulatedJudge) -> None:
        self.inner = inner
        self.fail_on_call: int | None = None
        self.identity, self.reads_text = inner.identity, inner.reads_text
        self.batches: list[int] = []

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        if self.fail_on_call is not None and len(self.batches) + 1 == self.fail_on_call:
            raise JudgeError("server gone")
        self.batches.append(len(prompts))
        return self.inner.judge(prompts)


def _queries(count: int, n: int) -> list[QueryCandidates]:
    return [
        QueryCandidates(
            Query(f"q{q}", f"query {q}"),
            tuple(Candidate(f"d{i}", f"text {q} {i}") for i in range(n)),
        )
        for q in range(count)
    ]


def _judge(items: list[QueryCandidates], **options: float) -> CountingJudge:
    # grades 3, 2, 1, 0, 0, ...: earlier positions are better
    qrels = {
        it.query.qid: {c.docid: max(0, 3 - i) for i, c in enumerate(it.candidates)} for it in items
    }
    return CountingJudge(SimulatedJudge(qrels, **options))  # type: ignore[arg-type]


def test_both_orders_asks_two_prompts_and_combines_them() -> None:
    items = _queries(1, 4)
    judge = _judge(items)
    strategy = AskRounds([[(0, 1), (3, 2)]])
    ledger = Executor(judge, batch_size=8).run(items, strategy, 4).ledger
    assert strategy.answers == [[1.0, 0.0]]
    cost = ledger.per_query["q0"]
    assert (cost.comparisons, cost.prompts, cost.inferences, cost.cache_hits) == (2, 4, 4, 0)
    assert judge.batches == [4]


def test_position_bias_is_averaged_out_with_both_orders() -> None:
    items = _queries(1, 4)
    judge = _judge(items, bias=1.0)  # always answers "the first one shown"
    both, one = AskRounds([[(0, 1)]]), AskRounds([[(0, 1)]])
    Executor(judge).run(items, both, 4)
    Executor(judge, both_orders=False).run(items, one, 4)
    assert both.answers == [[0.5]] and one.answers == [[1.0]]


def test_one_order_answers_the_reverse_from_cache_only_when_asked_to() -> None:
    items = _queries(1, 3)
    judge = _judge(items)
    cache = MemoryCache()
    Executor(judge, cache=cache, both_orders=False).run(items, AskRounds([[(0, 1)]]), 3)
    reverse = AskRounds([[(1, 0)]])
    ledger = Executor(judge, cache=cache, both_orders=False, reuse_reversed=True).run(
        items, reverse, 3
    ).ledger
    assert reverse.answers == [[0.0]]
    assert judge.batches == [1]
    assert ledger.per_query["q0"].inferences == 0 and ledger.per_query["q0"].cache_hits == 1
    # by default a run asks its own prompt (2, 0), though the cache holds (0, 2)
    Executor(judge, cache=cache, both_orders=False).run(items, AskRounds([[(0, 2)]]), 3)
    ledger = Executor(judge, cache=cache, both_orders=False).run(
        items, AskRounds([[(2, 0)]]), 3
    ).ledger
    assert judge.batches == [1, 1, 1] and ledger.per_query["q0"].inferences == 1


def test_cross_query_batches_are_filled_and_counted() -> None:
    items = _queries(5, 6)
    judge = _judge(items)
    pairs = [(0, 1), (2, 3), (4, 5)]  # 3 comparisons x 2 orders = 6 prompts per query, 30 in all
    ledger = Executor(judge, batch_size=8).run(items, AskRounds([pairs]), 6).ledger
    assert judge.batches == [8, 8, 8, 6]
    total = ledger.total()
    assert total["judge_calls"] == 4 == math.ceil(30 / 8)
    assert total["inferences"] == 30 and total["rounds"] == 1
    # per query: the batches that held its prompts (query 1's six prompts straddle two batches)
    assert ledger.per_query["q1"].judge_calls == 2


def test_repeats_within_and_across_rounds_are_judged_once() -> None:
    items = _queries(1, 4)
    judge = _judge(items)
    strategy = AskRounds([[(0, 1), (0, 1), (1, 0)], [(0, 1), (2, 3)]])
    ledger = Executor(judge).run(items, strategy, 4).ledger
    cost = ledger.per_query["q0"]
    assert cost.comparisons == 5 and cost.unique_comparisons == 2
    assert cost.prompts == 10 and cost.inferences == 4 and cost.cache_hits == 6
    assert cost.standalone_inferences == 4 and cost.round_prompts == [2, 2]
    assert cost.rounds == 2


def test_second_run_on_a_persistent_cache_runs_nothing(tmp_path) -> None:  # noqa: ANN001
    items = _queries(3, 5)
    judge = _judge(items)
    strategy = AskRounds([[(0, 1), (1, 2)], [(3, 4)]])
    results = Executor(judge, cache=SQLiteCache(tmp_path / "c.sqlite")).run(
        items, strategy, 5
    )
    first_run, first = results.run, results.ledger
    calls = len(judge.batches)
    results = Executor(judge, cache=SQLiteCache(tmp_path / "c.sqlite")).run(
        items, strategy, 5
    )
    again_run, again = results.run, results.ledger
    assert len(judge.batches) == calls
    assert again.total()["inferences"] == 0 and again.total()["judge_calls"] == 0
    assert again.total()["standalone_inferences"] == first.total()["standalone_inferences"] == 18
    assert again_run == first_run


def test_a_failing_judge_keeps_finished_batches_in_the_cache(tmp_path) -> None:  # noqa: ANN001
    items = _queries(4, 4)
    cache = SQLiteCache(tmp_path / "c.sqlite")
    judge = _judge(items)
    judge.fail_on_call = 3
    with pytest.raises(JudgeError):
        Executor(judge, cache=cache, batch_size=4).run(items, AskRounds([[(0, 1), (2, 3)]]), 4)
    # two batches of four were stored before the failure
    assert sum(n for _, n in cache.stats()) == 8
    judge.fail_on_call = None
    ledger = Executor(judge, cache=cache, batch_size=4).run(
        items, AskRounds([[(0, 1), (2, 3)]]), 4
    ).ledger
    assert ledger.total()["inferences"] == 8 and ledger.total()["cache_hits"] == 8


def test_a_strategy_that_returns_no_permutation_is_refused() -> None:
    @dataclass
    class Broken:
        name: ClassVar[str] = "broken"

        def run(self, n: int, top_k: int) -> PairwiseRun:
            yield [Comparison(0, 1)]
            return [0, 0]

    items = _queries(1, 2)
    with pytest.raises(RuntimeError, match="not a permutation"):
        Executor(_judge(items)).run(items, Broken(), 2)
