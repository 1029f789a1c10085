"""The executor with faults: invalid answers asked again and counted honestly, failed batches
keeping their finished answers, setwise prompts, one-order runs independent of the cache's history,
and the progress bar's counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from ask_rounds import AskRounds
from cache_helpers import AskSets, FakeSetJudge, TextJudge, queries

from rankpipe.cache import MemoryCache, SQLiteCache
from rankpipe.data.datasets import Dataset
from rankpipe.data.types import Candidate, QueryCandidates
from rankpipe.errors import JudgeError
from rankpipe.executor import Executor
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.strategies.registry import make_strategy

PAIRS = [[(0, 1), (2, 3), (0, 2)]]


def test_invalid_answers_are_asked_again_after_the_judge_is_fixed(tmp_path: Path) -> None:
    items, path = queries(3, 4), tmp_path / "c.sqlite"
    judge = TextJudge()
    judge.broken = True
    with SQLiteCache(path) as cache:
        broken = Executor(judge, cache=cache).run(items, AskRounds(PAIRS), 4).ledger
    assert broken.total()["inferences"] == broken.total()["invalid_answers"] == 18
    asked = list(judge.shown)

    judge.broken, judge.shown = False, []
    strategy = AskRounds(PAIRS)
    with SQLiteCache(path) as cache:
        fixed = Executor(judge, cache=cache).run(items, strategy, 4).ledger
    assert judge.shown == asked  # exactly those prompts again
    assert fixed.total()["inferences"] == 18 and fixed.total()["invalid_answers"] == 0
    assert strategy.answers[0] == [1.0, 1.0, 1.0]  # no longer the garbage 0.5

    judge.shown = []
    with SQLiteCache(path) as cache:  # now valid answers are served
        again = Executor(judge, cache=cache).run(items, AskRounds(PAIRS), 4).ledger
    assert judge.shown == [] and again.total()["cache_hits"] == 18


def test_invalid_answers_are_served_and_counted_after_the_retry_limit(tmp_path: Path) -> None:
    items, path = queries(1, 2), tmp_path / "c.sqlite"
    judge = TextJudge()
    judge.broken = True
    ledgers = []
    for _ in range(4):
        with SQLiteCache(path) as cache:
            executor = Executor(judge, cache=cache, max_invalid_retries=2)
            ledgers.append(executor.run(items, AskRounds([[(0, 1)]]), 2).ledger.total())
    assert [t["inferences"] for t in ledgers] == [2, 2, 2, 0]  # asked 1 + 2 times, then served
    assert [t["invalid_answers"] for t in ledgers] == [2, 2, 2, 2]
    with SQLiteCache(path) as cache:
        assert {e.attempts for e in cache.get_many(list(cache_keys(path))).values()} == {3}


def cache_keys(path: Path) -> list[bytes]:
    import sqlite3

    with sqlite3.connect(path) as db:
        return [k for (k,) in db.execute("SELECT key FROM judgments")]


def test_a_failed_batch_caches_and_charges_its_finished_answers(tmp_path: Path) -> None:
    items, path = queries(1, 4), tmp_path / "c.sqlite"
    judge = TextJudge()
    judge.fail_after = 5  # the batch of 6 prompts fails at its sixth
    with SQLiteCache(path) as cache, pytest.raises(JudgeError, match="server gone"):
        Executor(judge, cache=cache, batch_size=8).run(items, AskRounds(PAIRS), 4)
    assert len(cache_keys(path)) == 5
    first = list(judge.shown)
    judge.fail_after, judge.shown = None, []
    with SQLiteCache(path) as cache:
        ledger = Executor(judge, cache=cache, batch_size=8).run(items, AskRounds(PAIRS), 4).ledger
    assert len(first) == 5 and len(judge.shown) == 1 and judge.shown[0] not in first
    assert ledger.total()["inferences"] == 1 and ledger.total()["cache_hits"] == 5


def test_a_failed_batch_charges_the_ledger_before_the_error() -> None:
    items, judge = queries(1, 4), TextJudge()
    judge.fail_after = 3
    executor = Executor(judge, cache=MemoryCache(), batch_size=8)
    with pytest.raises(JudgeError):
        executor.run(items, AskRounds(PAIRS), 4)
    assert len(executor.cache) == 3  # type: ignore[arg-type]


def test_setwise_requests_are_judged_cached_and_counted(tmp_path: Path) -> None:
    items = list(queries(2, 4))
    items[1] = QueryCandidates(
        items[1].query, (*items[1].candidates[:3], Candidate("d3", "garbage"))
    )
    judge, path = FakeSetJudge(), tmp_path / "c.sqlite"
    sets = [(0, 1, 2), (3, 1), (0, 1, 2)]  # a repeat is judged once
    strategy = AskSets(sets)
    with SQLiteCache(path) as cache:
        ledger = Executor(judge, cache=cache).run(items, strategy, 4).ledger
    assert len(judge.sets) == 4
    assert strategy.answers[0] == [(1.0, 0.0, 0.0), (1.0, 0.0), (1.0, 0.0, 0.0)]
    assert strategy.answers[1][1] == (0.5, 0.5)
    total = ledger.total()
    assert total["inferences"] == 4 and total["invalid_answers"] == 1
    assert total["prompt_tokens"] == 80 and total["unique_comparisons"] == 4
    judge.sets = []
    again = AskSets(sets)
    with SQLiteCache(path) as cache:
        ledger = Executor(judge, cache=cache).run(items, again, 4).ledger
        kinds = {entry.kind for entry in cache.get_many(cache_keys(path)).values()}
    assert judge.sets == [("garbage", "text 1 1")]  # only the invalid one asked again
    assert again.answers == strategy.answers and kinds == {"set"}
    assert (
        ledger.total()["invalid_answers"] == 1 and ledger.total()["standalone_prompt_tokens"] == 80
    )


def test_setwise_needs_a_setwise_judge() -> None:
    with pytest.raises(RuntimeError, match="no setwise form"):
        Executor(TextJudge()).run(queries(1, 3), AskSets([(0, 1, 2)]), 3)


def test_one_order_heapsort_ignores_what_quickselect_left_in_the_cache(
    dl19: Dataset, tmp_path: Path
) -> None:
    items = [item.truncated(30) for item in dl19.candidates[:12]]
    judge = SimulatedJudge(dl19.qrels, noise=0.1, bias=0.3)

    def run(cache: SQLiteCache, strategy: str = "heapsort", reuse: bool = False) -> dict:
        executor = Executor(judge, cache=cache, both_orders=False, reuse_reversed=reuse)
        return executor.run(items, make_strategy(strategy), 10).run

    with SQLiteCache(tmp_path / "fresh.sqlite") as cache:
        fresh = run(cache)
    with SQLiteCache(tmp_path / "shared.sqlite") as cache:
        run(cache, "quickselect")
        assert run(cache) == fresh
    with SQLiteCache(tmp_path / "opt-in.sqlite") as cache:  # opting in: the output changes here
        run(cache, "quickselect")
        assert run(cache, reuse=True) != fresh


def test_the_progress_bar_counts_prompts_hits_and_invalid_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    judge = TextJudge()
    judge.broken = True
    cache = MemoryCache()
    Executor(judge, cache=cache, progress=True).run(queries(2, 4), AskRounds(PAIRS), 4)
    bar = capsys.readouterr().err.rsplit("\r", 1)[-1]
    assert "12/12" in bar and "inferences=12" in bar and "invalid=12" in bar
    judge.broken = False
    rounds = AskRounds([[(0, 1)], [(0, 1), (1, 2)]])  # the second round grows the total
    Executor(judge, cache=cache, progress=True, max_invalid_retries=0).run(
        queries(2, 4), rounds, 4
    )
    bar = capsys.readouterr().err.rsplit("\r", 1)[-1]
    # 4 prompts then 8 (4 of them known from round one); the cached invalid ones served
    assert "12/12" in bar and "inferences=4" in bar and "cache_hits=8" in bar
    assert "invalid=4" in bar
    Executor(judge, progress=False).run(queries(1, 2), AskRounds([[(0, 1)]]), 2)
    assert capsys.readouterr().err == ""
