"""The training set: its schema round-trips through save and load, teacher score sources, tied
queries left out, and sets with nothing to learn refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankpipe.cost import CostLedger
from rankpipe.data.types import Candidate, Query, QueryCandidates, Ranking
from rankpipe.distill.dataset import (
    COLUMNS,
    build_training_set,
    load_training_set,
    save_training_set,
)
from rankpipe.distill.mining import Mined, MinedQuery, PairRule
from rankpipe.errors import InputError


def item(qid: str, scores: list[float]) -> QueryCandidates:
    return QueryCandidates(
        Query(qid, f"query {qid}"),
        tuple(
            Candidate(f"{qid}-d{i}", f"passage {i} of {qid}", s, i + 1)
            for i, s in enumerate(scores)
        ),
    )


def mined(*queries: MinedQuery) -> Mined:
    return Mined(list(queries), CostLedger(), "sim:test", PairRule(), both_orders=True)


def test_schema_round_trips_through_save_and_load(tmp_path: Path) -> None:
    training = build_training_set(
        mined(
            MinedQuery(item("q1", [3.0, 2.0, 1.0]), ((0, 1, 1.0), (1, 2, 0.25))),
            MinedQuery(item("q2", [5.0, 4.0]), ((0, 1, 0.0),)),
        )
    )
    assert training.data.column_names == list(COLUMNS)
    row = training.data[0]
    assert row["docids"] == ["q1-d0", "q1-d1", "q1-d2"]
    assert row["pairs"] == [{"i": 0, "j": 1, "p": 1.0}, {"i": 1, "j": 2, "p": 0.25}]
    # Bradley-Terry over the pairs: 0 beat 1 outright, 1 mostly lost to 2
    assert row["teacher_scores"][0] > row["teacher_scores"][2] > row["teacher_scores"][1]
    assert training.info.score_source == "bradley-terry"
    ledger = CostLedger()
    ledger.query("q1").inferences = 4
    save_training_set(training, tmp_path / "set", ledger)
    back = load_training_set(tmp_path / "set")
    assert back.data.features == training.data.features
    assert back.data.to_list() == training.data.to_list()
    assert back.info == training.info
    assert (
        json.loads((tmp_path / "set" / "mining.cost.json").read_text())["total"]["inferences"] == 4
    )
    with pytest.raises(InputError, match="exists"):
        save_training_set(training, tmp_path / "set")
    save_training_set(training, tmp_path / "set", overwrite=True)


def test_pointwise_sources_first_stage_and_run() -> None:
    query = MinedQuery(item("q1", [3.0, 2.0, 1.0]), ((0, 1, 0.5), (1, 2, 1.0)))
    first = build_training_set(mined(query), "first-stage")
    assert first.data[0]["teacher_scores"] == [3.0, 2.0, 1.0]
    run = {"q1": Ranking("q1", ("q1-d2", "q1-d0"), (9.0, 7.0))}
    from_run = build_training_set(mined(query), "run", run, run_name="teacher.trec")
    assert from_run.data[0]["teacher_scores"] == [7.0, 7.0, 9.0]  # d1 missing: the lowest, 7
    assert from_run.info.missing_scores == 1
    assert from_run.info.score_source == "run:teacher.trec"


def test_a_query_whose_candidates_are_all_tied_is_left_out() -> None:
    tied = MinedQuery(item("tied", [1.0, 1.0, 1.0]), ((0, 1, 0.5), (1, 2, 0.5)))
    good = MinedQuery(item("good", [1.0, 1.0]), ((0, 1, 0.9),))
    training = build_training_set(mined(tied, good), "first-stage")
    assert training.data["qid"] == ["good"]
    assert (
        "tied" in training.info.skipped and "all candidates tied" in training.info.skipped["tied"]
    )
    with pytest.raises(InputError, match="all 1 queries were left out.*tied"):
        build_training_set(mined(tied), "first-stage")


def test_a_set_without_judged_pairs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no judged pairs"):
        build_training_set(mined(MinedQuery(item("q1", [2.0, 1.0]), ())))
    with pytest.raises(InputError, match="no judged pairs"):
        build_training_set(mined(MinedQuery(item("q1", [2.0, 1.0]), ())), "first-stage")
    (tmp_path / "not-a-set").mkdir()
    with pytest.raises(InputError, match="not a distillation training set"):
        load_training_set(tmp_path / "not-a-set")


def test_shards_come_back_memory_mapped_and_train_the_same(tmp_path: Path) -> None:
    """Read back from shards, the set is an Arrow file the Dataset maps (not a table in memory),
    and the trainer's rows and the dev split off it equal those of the set held in memory."""
    from rankpipe.distill.dataset import pair_count, write_shards
    from rankpipe.distill.pipeline import without
    from rankpipe.distill.train import training_rows

    queries = [
        MinedQuery(item(f"q{n}", [3.0, 2.0, 1.0][: 2 + n % 2]), ((0, 1, 0.8 - n / 20),))
        for n in range(6)
    ]
    shards = [build_training_set(mined(*queries[:4])), build_training_set(mined(*queries[4:]))]
    write_shards(((s, CostLedger()) for s in shards), tmp_path / "set")
    back = load_training_set(tmp_path / "set")
    assert back.data.cache_files  # memory-mapped from a file, not an in-memory table
    whole = build_training_set(mined(*queries))
    assert back.data.to_list() == whole.data.to_list()
    # labels hold NaN for pairs not judged: compare their reprs
    assert repr(training_rows(back.data).to_list()) == repr(training_rows(whole.data).to_list())
    assert training_rows(back.data).column_names == [
        "query",
        "passage_0",
        "passage_1",
        "passage_2",
        "label",
    ]
    part = without(back, {"q1", "q4"})
    assert part.data["qid"] == ["q0", "q2", "q3", "q5"]
    assert part.info.queries == 4 and part.info.judged_pairs == pair_count(part.data) == 4
    assert repr(training_rows(part.data).to_list()) == repr(
        training_rows(without(whole, {"q1", "q4"}).data).to_list()
    )
