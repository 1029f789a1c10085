"""The executor's `reuse_reversed` switch, which strategy comparisons turn off (one order)."""

from __future__ import annotations

import pytest
from ask_rounds import AskRounds

from rankpipe.cache import MemoryCache
from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.executor import Executor
from rankpipe.judges.simulated import SimulatedJudge

ITEMS = [QueryCandidates(Query("q", "query"), (Candidate("d0", "zero"), Candidate("d1", "one")))]


def _ask(
    cache: MemoryCache, pair: tuple[int, int], reuse_reversed: bool
) -> tuple[float, float]:
    """(P(a beats b) as answered, inferences run) for one comparison asked with one order."""
    judge = SimulatedJudge({"q": {"d0": 1}}, bias=1.0)  # always "A": the two orders disagree
    strategy = AskRounds([[pair]])
    executor = Executor(
        judge, cache=cache, both_orders=False, reuse_reversed=reuse_reversed
    )
    ledger = executor.run(ITEMS, strategy, 2).ledger
    return strategy.answers[0][0], ledger.total()["inferences"]


@pytest.mark.parametrize(("reuse_reversed", "expected"), [(True, (0.0, 0)), (False, (1.0, 1))])
def test_a_cached_reverse_answers_only_when_allowed(
    reuse_reversed: bool, expected: tuple
) -> None:
    cache = MemoryCache()
    assert _ask(cache, (1, 0), reuse_reversed=True) == (1.0, 1)  # "d1 first" -> A -> d1 wins
    # asking (0, 1) next: the cached (1, 0) says d0 loses; the (0, 1) prompt itself says d0 wins
    assert _ask(cache, (0, 1), reuse_reversed) == expected


def test_a_reverse_asked_earlier_in_the_same_run_still_answers() -> None:
    judge = SimulatedJudge({"q": {"d0": 1}}, bias=1.0)
    strategy = AskRounds([[(1, 0)], [(0, 1)]])
    executor = Executor(judge, cache=MemoryCache(), both_orders=False, reuse_reversed=False)
    ledger = executor.run(ITEMS, strategy, 2).ledger
    assert strategy.answers == [[1.0], [0.0]]
    assert ledger.total()["inferences"] == 1
