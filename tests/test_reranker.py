"""`Reranker`: reuse across calls over one cache, the CLI's default cache, typed costs, and scores
that carry what the strategy knows."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

import rankpipe
from rankpipe.cache import SQLiteCache, default_cache_path
from rankpipe.cost import CostTotals
from rankpipe.data.datasets import Dataset
from rankpipe.data.types import Ranking
from rankpipe.errors import InputError
from rankpipe.evaluation import evaluate
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.reranker import Reranker, strictly_falling


def test_a_second_call_is_answered_from_the_cache(demo: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "judgments.sqlite"
    with Reranker("sim:noise=0.1", "heapsort", qrels=demo.qrels, cache=path) as reranker:
        first = reranker.rerank(demo.candidates)
        second = reranker.rerank(demo.candidates)
        judge = reranker.judge
    assert first.cost.totals.inferences > 0
    assert second.cost.totals.inferences == 0 and second.cost.totals.judge_calls == 0
    assert second.cost.totals.cache_hits == first.cost.totals.prompts
    assert second.run == first.run
    # the judge was built once, and the cache file holds every answer after close()
    with Reranker(judge, "heapsort", cache=path) as again:
        assert again.rerank(demo.candidates).cost.totals.inferences == 0


def test_the_default_cache_is_the_clis_sqlite_file(demo: Dataset) -> None:
    with Reranker("sim", "quickselect", qrels=demo.qrels) as reranker:
        assert isinstance(reranker.cache, SQLiteCache)
        assert reranker.cache.path == default_cache_path()
    for memory in (None, "memory"):
        with Reranker("sim", "quickselect", qrels=demo.qrels, cache=memory) as reranker:
            assert not isinstance(reranker.cache, SQLiteCache)


def test_a_cache_handed_in_stays_open(demo: Dataset, tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "mine.sqlite")
    with Reranker("sim", "quickselect", qrels=demo.qrels, cache=cache) as reranker:
        reranker.rerank(demo.candidates[:2])
    assert cache.stats()  # still usable: the Reranker did not close it
    cache.close()


def test_qrels_reach_a_sim_spec_and_judge_objects_bring_their_own(demo: Dataset) -> None:
    by_spec = Reranker("sim", "allpairs", qrels=demo.qrels, cache=None).rerank(demo.candidates)
    judge = SimulatedJudge(demo.qrels)
    by_object = Reranker(judge, "allpairs", cache=None).rerank(demo.candidates)
    assert by_spec.run == by_object.run
    with pytest.raises(InputError, match="a judge object brings its own"):
        Reranker(judge, "allpairs", qrels=demo.qrels)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"orders": "three"}, "orders must be one of both, one"),
        ({"top_k": 0}, "top_k and depth must be at least 1"),
        ({"depth": 0}, "top_k and depth must be at least 1"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
    ],
)
def test_bad_arguments_are_input_errors(
    demo: Dataset, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        Reranker("sim", "heapsort", qrels=demo.qrels, cache=None, **options)  # type: ignore[arg-type]


def test_depth_cuts_the_candidates(demo: Dataset) -> None:
    result = Reranker("sim", "heapsort", top_k=3, depth=5, qrels=demo.qrels, cache=None).rerank(
        demo.candidates
    )
    assert all(len(r) == 5 for r in result.run.values())
    assert all(len(item.candidates) == 5 for item in result.candidates)


def test_costs_are_typed_attributes(demo: Dataset) -> None:
    result = Reranker("sim:noise=0.1", "quickselect", qrels=demo.qrels, cache=None).rerank(
        demo.candidates
    )
    totals, record = result.cost.totals, result.cost.total()
    assert isinstance(totals, CostTotals)
    counts = {f.name for f in dataclasses.fields(CostTotals) if not f.name.startswith("round_")}
    assert counts == set(record)  # every count of QueryCost is totalled
    assert all(getattr(totals, name) == value for name, value in record.items())
    frame = result.cost.to_pandas()
    assert list(frame.index) == [item.query.qid for item in demo.candidates]
    assert frame["inferences"].sum() == totals.inferences
    assert frame.loc["d1", "prompts"] == result.cost.per_query["d1"].prompts


def test_aggregated_strengths_are_the_scores(demo: Dataset) -> None:
    """Borda over summed probabilities: each pair hands out exactly one point, so the scores of a
    query sum to n(n-1)/2 (in single precision); evaluation of the scored run equals that of its
    order."""
    strategy = "allpairs:agg=probabilities"
    result = Reranker("sim:noise=0.2", strategy, qrels=demo.qrels, cache=None).rerank(
        demo.candidates
    )
    for ranking in result.run.values():
        n = len(ranking)
        assert math.fsum(ranking.scores) == pytest.approx(n * (n - 1) / 2, abs=1e-4)
        assert all(x > y for x, y in zip(ranking.scores, ranking.scores[1:], strict=False))
    by_rank = {qid: Ranking.from_order(qid, r.docids) for qid, r in result.run.items()}
    assert evaluate(result.run, demo.qrels).per_query == evaluate(by_rank, demo.qrels).per_query


def test_wins_and_aggregators_reach_the_scores(demo: Dataset) -> None:
    wins = Reranker("sim", "allpairs", qrels=demo.qrels, cache=None).rerank(demo.candidates[:1])
    (ranking,) = wins.run.values()
    n = len(ranking)
    assert ranking.scores[0] <= n - 1 and ranking.scores[0] != float(n)  # wins, not n..1
    sparse = Reranker("sim", "sparse", qrels=demo.qrels, cache=None).rerank(demo.candidates[:1])
    (ranking,) = sparse.run.values()
    assert min(ranking.scores) >= 0.0 and max(ranking.scores) <= 1.0  # win rates


def test_strategies_without_scores_get_rank_derived_ones(demo: Dataset) -> None:
    result = Reranker("sim", "heapsort", qrels=demo.qrels, cache=None).rerank(demo.candidates)
    for ranking in result.run.values():
        n = len(ranking)
        assert ranking.scores == tuple(float(n - i) for i in range(n))


def test_ties_fall_by_one_single_precision_step() -> None:
    step = float(np.nextafter(np.float32(2.0), np.float32(0.0)))
    below = float(np.nextafter(np.float32(step), np.float32(0.0)))
    assert strictly_falling([3.0, 2.0, 2.0, 2.0 + 1e-12, 1.0]) == (3.0, 2.0, step, below, 1.0)
    falling = strictly_falling([0.1 + i * 1e-12 for i in range(5)][::-1])
    assert all(np.float32(x) > np.float32(y) for x, y in zip(falling, falling[1:], strict=False))


def test_first_stage_scores_are_kept(demo: Dataset) -> None:
    result = Reranker("sim", "quickselect", qrels=demo.qrels, cache=None).rerank(demo.candidates)
    assert result.first_stage == {
        item.query.qid: Ranking(
            item.query.qid,
            tuple(c.docid for c in item.candidates),
            tuple(c.score for c in item.candidates),
        )
        for item in demo.candidates
    }


def test_the_package_exports_the_front_door(demo: Dataset) -> None:
    dataset = rankpipe.load_dataset("demo")
    with rankpipe.Reranker("sim", "quickselect", qrels=dataset.qrels, cache=None) as reranker:
        result = reranker.rerank(dataset.candidates)
    assert rankpipe.evaluate(result.run, dataset.qrels).aggregate["nDCG@10"] > 0.9
    assert callable(rankpipe.read_run) and callable(rankpipe.write_run)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        rankpipe.nothing  # noqa: B018
