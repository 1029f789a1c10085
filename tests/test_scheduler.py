"""Continuous batching: queries submitted from many threads share judge calls, each resolves on its
own, a failing query fails alone, a cancelled one stops costing judgments; and `Reranker` shared by
threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from pathlib import Path

import pytest

from rankpipe.data.datasets import Dataset
from rankpipe.errors import JudgeError
from rankpipe.executor import Executor
from rankpipe.judges.base import Judgment, PairPrompt
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.reranker import Reranker
from rankpipe.scheduler import Scheduler
from rankpipe.strategies.registry import make_strategy


class Recording:
    """Records the queries of each judge call; sleeps a fixed time per call, as a GPU batch does;
    fails any batch holding a prompt of `fail_qid`."""

    def __init__(self, inner: SimulatedJudge, seconds: float = 0.02, fail_qid: str = "") -> None:
        self.inner, self.seconds, self.fail_qid = inner, seconds, fail_qid
        self.identity, self.reads_text = inner.identity, inner.reads_text
        self.calls: list[set[str]] = []

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        time.sleep(self.seconds)
        self.calls.append({p.query.qid for p in prompts})
        if self.fail_qid in self.calls[-1]:
            raise JudgeError(f"cannot judge {self.fail_qid}")
        return self.inner.judge(prompts)


def test_concurrent_submissions_share_judge_calls_and_match_a_batch_run(demo: Dataset) -> None:
    judge = Recording(SimulatedJudge(demo.qrels, noise=0.2, seed=1))
    scheduler = Scheduler(Executor(judge, batch_size=1000))
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = list(
                pool.map(
                    lambda item: scheduler.submit(item, make_strategy("heapsort"), 5),
                    demo.candidates,
                )
            )
            outcomes = {f.result(timeout=30).qid: f.result() for f in futures}
    finally:
        scheduler.close()
    alone = Executor(SimulatedJudge(demo.qrels, noise=0.2, seed=1)).run(
        demo.candidates, make_strategy("heapsort"), 5
    )
    assert {qid: o.order for qid, o in outcomes.items()} == {q: o.order for q, o in alone.items()}
    assert max(len(queries) for queries in judge.calls) > 1  # calls held several queries
    assert len(judge.calls) < sum(o.cost.rounds for o in outcomes.values())
    assert scheduler.depth == 0


def test_a_short_query_leaves_before_a_long_one_finishes(demo: Dataset) -> None:
    judge = Recording(SimulatedJudge(demo.qrels))
    scheduler = Scheduler(Executor(judge))
    try:
        long = scheduler.submit(demo.candidates[0], make_strategy("sliding"), 10)
        short = scheduler.submit(demo.candidates[1], make_strategy("heapsort"), 1)
        short.result(timeout=30)
        assert not long.done()
        long.result(timeout=60)
    finally:
        scheduler.close()


def test_a_failing_query_fails_alone_and_the_scheduler_keeps_serving(demo: Dataset) -> None:
    bad = demo.candidates[0].query.qid
    judge = Recording(SimulatedJudge(demo.qrels), fail_qid=bad)
    scheduler = Scheduler(Executor(judge, batch_size=1))
    try:
        futures = [scheduler.submit(i, make_strategy("heapsort"), 3) for i in demo.candidates[:3]]
        with pytest.raises(JudgeError, match=f"cannot judge {bad}"):
            futures[0].result(timeout=30)
        assert all(f.result(timeout=30).qid for f in futures[1:])
        later = scheduler.submit(demo.candidates[4], make_strategy("heapsort"), 3)
        assert later.result(timeout=30).qid == demo.candidates[4].query.qid
    finally:
        scheduler.close()


def test_a_cancelled_query_stops_costing_judgments(demo: Dataset) -> None:
    judge = Recording(SimulatedJudge(demo.qrels), seconds=0.05)
    scheduler = Scheduler(Executor(judge))
    try:
        gone = scheduler.submit(demo.candidates[0], make_strategy("sliding"), 10)
        while not judge.calls:
            time.sleep(0.01)
        assert scheduler.cancel(gone)
        with pytest.raises(CancelledError):
            gone.result(timeout=5)
        calls = len(judge.calls)
        time.sleep(0.3)
        assert len(judge.calls) <= calls + 1  # at most the wave already under way
        assert scheduler.depth == 0
    finally:
        scheduler.close()


def test_close_drains_what_is_in_flight(demo: Dataset) -> None:
    scheduler = Scheduler(Executor(Recording(SimulatedJudge(demo.qrels))))
    futures = [scheduler.submit(i, make_strategy("heapsort"), 3) for i in demo.candidates[:4]]
    scheduler.close()
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(RuntimeError, match="closed"):
        scheduler.submit(demo.candidates[0], make_strategy("heapsort"), 3)


def test_one_reranker_serves_two_threads(demo: Dataset, tmp_path: object) -> None:
    with Reranker("sim:noise=0.2", "heapsort", 5, qrels=demo.qrels, cache=None) as reranker:
        expected = reranker.rerank(demo.candidates).run
        results: list[object] = []
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(3):
                    results.append(reranker.rerank(demo.candidates).run)
            except BaseException as error:  # noqa: BLE001 (the test reports it)
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors and results == [expected] * 6
        submitted = reranker.submit(demo.candidates[0]).result(timeout=30)
        assert submitted.ranking == expected[demo.candidates[0].query.qid]


def test_a_closed_reranker_says_closed(demo: Dataset, tmp_path: object) -> None:
    reranker = Reranker("sim", "heapsort", qrels=demo.qrels, cache=None)
    reranker.close()
    reranker.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        reranker.rerank(demo.candidates)
    with pytest.raises(RuntimeError, match="closed"):
        reranker.submit(demo.candidates[0])


def test_two_rerankers_in_two_threads_share_one_cache_file(demo: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with Reranker("sim:noise=0.2", "heapsort", 5, qrels=demo.qrels, cache=None) as alone:
        expected = alone.rerank(demo.candidates).run
    runs: dict[str, object] = {}
    errors: list[BaseException] = []

    def work(name: str, strategy: str) -> None:
        try:
            with Reranker("sim:noise=0.2", strategy, 5, qrels=demo.qrels, cache=path) as reranker:
                runs[name] = reranker.rerank(demo.candidates).run
        except BaseException as error:  # noqa: BLE001 (the test reports it)
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=("heap", "heapsort")),
        threading.Thread(target=work, args=("quick", "quickselect")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and runs["heap"] == expected and "quick" in runs
    with Reranker("sim:noise=0.2", "heapsort", 5, qrels=demo.qrels, cache=path) as again:
        assert again.rerank(demo.candidates).cost.totals.inferences == 0  # all cached
