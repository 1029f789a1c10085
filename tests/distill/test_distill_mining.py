"""Mining: pair rules, judging through the executor (batched across queries, cached, costed), the
pairs a strategy asked, and a mining run killed midway that resumes with no repeated inference."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from rankpipe.cache import MemoryCache, SQLiteCache
from rankpipe.data.datasets import Dataset
from rankpipe.distill.mining import PairRule, choose_pairs, mine_pairs, parse_pairs
from rankpipe.errors import InputError, JudgeError
from rankpipe.judges.base import Judgment, PairPrompt
from rankpipe.judges.simulated import SimulatedJudge


class CountingJudge:
    """A simulated judge that counts each prompt it runs and can fail after some calls."""

    reads_text = False

    def __init__(self, judge: SimulatedJudge, fail_after_calls: int | None = None) -> None:
        self.inner, self.identity = judge, judge.identity
        self.fail_after_calls = fail_after_calls
        self.calls = 0
        self.ran: Counter[tuple[str, str, str]] = Counter()

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise JudgeError("the server went away")
        self.calls += 1
        self.ran.update((p.query.qid, p.a.docid, p.b.docid) for p in prompts)
        return self.inner.judge(prompts)


def test_parse_pairs_reads_the_three_rules_and_refuses_bad_ones() -> None:
    assert parse_pairs("window:5,n=16") == PairRule("window", window=5, n=16)
    assert parse_pairs("window:3,n=4,seed=7") == PairRule("window", window=3, n=4, seed=7)
    assert parse_pairs("allpairs:k=10") == PairRule("allpairs", k=10)
    assert parse_pairs("allpairs").k is None
    rule = parse_pairs("strategy:quickselect+pivots=2,top_k=5")
    assert (rule.strategy, rule.top_k) == ("quickselect:pivots=2", 5)
    for bad, says in [
        ("windows:5", "unknown rule"),
        ("window:5,n=0", "n must be at least 1"),
        ("window:5,m=3", "expected window"),
        ("allpairs:k=x", "k must be an integer"),
        ("strategy:", "name the strategy"),
        ("strategy:nosuch", "unknown strategy"),
    ]:
        with pytest.raises(InputError, match=says):
            parse_pairs(bad)


def test_window_rule_samples_n_pairs_within_the_window() -> None:
    rule = PairRule("window", window=5, n=16)
    pairs = choose_pairs(20, rule, random.Random(1))
    assert len(pairs) == 16 == len(set(pairs))
    assert all(0 <= i < j <= i + 5 and j < 20 for i, j in pairs)
    assert choose_pairs(20, rule, random.Random(1)) == pairs
    # fewer candidates than the sample: every pair in the window
    assert choose_pairs(3, rule, random.Random(1)) == [(0, 1), (0, 2), (1, 2)]
    assert len(choose_pairs(6, PairRule("allpairs", k=4), random.Random(0))) == 6


def test_mining_judges_the_planned_pairs_batched_and_costed(demo: Dataset) -> None:
    assert demo.qrels is not None
    items = [item.truncated(8) for item in demo.candidates]
    judge = CountingJudge(SimulatedJudge(demo.qrels))
    cache = MemoryCache()
    rule = PairRule("window", window=3, n=5)
    mined = mine_pairs(items, judge, rule, cache=cache, batch_size=16)
    assert [q.item.query.qid for q in mined.queries] == [i.query.qid for i in items]
    for query in mined.queries:
        assert len(query.pairs) == 5
        labels = demo.qrels[query.item.query.qid]
        for i, j, p in query.pairs:
            a, b = (labels.get(query.item.candidates[x].docid, 0) for x in (i, j))
            assert p == (1.0 if a > b else 0.0 if a < b else 0.5)
    total = mined.ledger.total()
    assert total["inferences"] == 2 * 5 * len(items) == sum(judge.ran.values())
    assert total["judge_calls"] == judge.calls == 7  # 100 prompts in batches of 16, across queries
    # the same pairs again come from the cache (mining reuses judgments)
    again = mine_pairs(items, judge, rule, cache=cache, batch_size=16)
    assert again.queries == mined.queries
    assert again.ledger.total()["inferences"] == 0 and judge.calls == 7


def test_mining_records_the_comparisons_a_strategy_asked(demo: Dataset) -> None:
    assert demo.qrels is not None
    rule = parse_pairs("strategy:heapsort,top_k=3")
    mined = mine_pairs(demo.candidates[:3], SimulatedJudge(demo.qrels), rule)
    pairs = sum(len(q.pairs) for q in mined.queries)
    assert pairs == mined.ledger.total()["unique_comparisons"] > 0
    assert all(
        len({frozenset((i, j)) for i, j, _ in q.pairs}) == len(q.pairs) for q in mined.queries
    )


def test_mining_killed_midway_resumes_with_zero_repeated_inferences(
    demo: Dataset, tmp_path: Path
) -> None:
    assert demo.qrels is not None
    cache_file = tmp_path / "judgments.sqlite"
    rule = PairRule("window", window=4, n=6)
    failing = CountingJudge(SimulatedJudge(demo.qrels), fail_after_calls=3)
    with pytest.raises(JudgeError):
        mine_pairs(demo.candidates, failing, rule, cache=SQLiteCache(cache_file), batch_size=10)
    assert sum(failing.ran.values()) == 30  # three batches finished before the failure
    resumed = CountingJudge(SimulatedJudge(demo.qrels))
    mined = mine_pairs(demo.candidates, resumed, rule, cache=SQLiteCache(cache_file), batch_size=10)
    both = failing.ran + resumed.ran
    assert max(both.values()) == 1  # no prompt ran twice
    assert sum(both.values()) == 2 * 6 * len(demo.candidates)
    assert mined.ledger.total()["inferences"] == sum(resumed.ran.values()) == 120 - 30
    assert mined.ledger.total()["cache_hits"] == 30
    fresh = mine_pairs(demo.candidates, SimulatedJudge(demo.qrels), rule)
    assert mined.queries == fresh.queries  # the resumed set equals an uninterrupted one
