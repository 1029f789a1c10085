"""The library front door `distill()`: the teacher ranks first and the pairs come from its order,
rounds of hard negatives from the student's own index (cache hits for pairs judged before, the best
round kept), errors naming parameters, and mining streamed into shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankpipe.cache import MemoryCache
from rankpipe.data.datasets import Dataset
from rankpipe.distill.config import TrainConfig
from rankpipe.distill.dataset import load_training_set
from rankpipe.distill.mining import PairRule, mine_pairs
from rankpipe.distill.pipeline import MiningSettings, corpus_of, distill, mine_to_folder
from rankpipe.errors import InputError
from rankpipe.judges.simulated import SimulatedJudge

TINY = TrainConfig(max_steps=2, max_seq_length=32, learning_rate=1e-4, measure_loss=False)


def test_pairs_are_taken_over_the_teachers_order_and_reuse_its_comparisons(demo: Dataset) -> None:
    assert demo.qrels is not None
    judge = SimulatedJudge(demo.qrels, noise=0.0)
    rule = PairRule("window", window=2, n=100, k=8)
    mined = mine_pairs(demo.candidates, judge, rule, rank_with="heapsort", rank_top_k=8, keep=10)
    for query in mined.queries:
        labels = demo.qrels[query.item.query.qid]
        grades = [labels.get(c.docid, 0) for c in query.item.candidates]
        assert len(grades) == 10
        assert grades[:8] == sorted(grades[:8], reverse=True)  # the teacher's top 8, in order
        assert query.pairs and all(i < j < 8 and j - i <= 2 for i, j, _ in query.pairs)
        assert all(p >= 0.5 for _, _, p in query.pairs)  # over its own order it never disagrees
    total = mined.ledger.total()
    assert total["cache_hits"] > 0  # window pairs the ranking had asked already
    assert mined.rank_with == "heapsort" and str(mined.rule) == "window:2,n=100,seed=0,k=8"


def test_library_errors_name_parameters(demo: Dataset, tmp_path: Path) -> None:
    judge = SimulatedJudge(demo.qrels, noise=0.0)
    cases = [
        ({"rounds": 0}, "rounds must be at least 1"),
        ({"dev_fraction": 2.0}, "dev_fraction must lie in"),
        ({"training": TrainConfig(batch_size=0)}, "batch_size must be at least 1"),
        ({"dev_queries": ["nosuch"]}, "dev_queries: none of them"),
    ]
    for kwargs, says in cases:
        with pytest.raises(InputError, match=says):
            distill(demo.candidates, judge, tmp_path / "out", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_rounds_mine_the_students_own_top_candidates_and_keep_the_best(
    demo: Dataset, tmp_path: Path
) -> None:
    assert demo.qrels is not None
    cache = MemoryCache()
    result = distill(
        demo.candidates,
        SimulatedJudge(demo.qrels, noise=0.1),
        tmp_path / "student",
        training=TINY,
        mining=MiningSettings(rank_top_k=12, keep=12, depth=12),
        qrels=demo.qrels,
        dev_queries=["d1", "d2"],
        rounds=2,
        corpus=corpus_of(demo.candidates),
        cache=cache,
    )
    assert [r.round for r in result.rounds] == [0, 1] and result.dev_queries == ["d1", "d2"]
    first, second = result.rounds
    assert first.queries <= 8 and second.queries <= 8  # the dev queries are never trained on
    assert second.ledger.total()["cache_hits"] > 0  # pairs the first round judged already
    kept = next(s for s in first.dev if s.step == first.train.kept_step)
    assert second.dev[0].ndcg10 == pytest.approx(kept.ndcg10, abs=1e-6)  # it starts from there
    best = max(s.ndcg10 or 0.0 for s in result.dev_scores)
    assert result.dev_after is not None and result.dev_after.ndcg10 == pytest.approx(best, abs=1e-6)
    record = json.loads((tmp_path / "student" / "rounds.json").read_text())
    assert len(record["rounds"]) == 2 and record["dev_measure"] == "ndcg10"
    assert len(result.summary().splitlines()) == 4 + result.base_unchanged
    assert result.costs()["inferences"] > 0


def test_mining_streams_into_shards_read_back_as_one_set(demo: Dataset, tmp_path: Path) -> None:
    judge = SimulatedJudge(demo.qrels, noise=0.0)
    out = mine_to_folder(
        iter(demo.candidates),  # an iterator: read once, shard by shard
        judge,
        tmp_path / "set",
        mining=MiningSettings(rank_top_k=5, keep=8),
        shard_queries=3,
    )
    assert sorted(p.name for p in out.glob("training_set-*.parquet")) == [
        f"training_set-0000{n}.parquet" for n in range(4)
    ]
    assert len(list(out.glob("mining.cost-*.json"))) == 4
    training = load_training_set(out)
    assert training.info.queries == len(training.data) == 10
    assert training.info.judged_pairs == sum(len(p) for p in training.data["pairs"])
    assert all(len(p) == 8 for p in training.data["passages"])
