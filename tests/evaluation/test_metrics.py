"""Evaluation: TREC metrics through ir-measures (reference values on DL19), coverage of queries,
and paired t-tests with Holm correction."""

from __future__ import annotations

import math
from pathlib import Path

import ir_measures
import pytest
from scipy import stats

from rankpipe.data.candidates import read_candidates
from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.trec import read_qrels, read_run
from rankpipe.data.types import Ranking, run_as_dict, run_from_candidates
from rankpipe.errors import InputError
from rankpipe.evaluation import DEFAULT_METRICS, evaluate, holm, paired_t_tests


def test_dl19_bm25_matches_the_pyserini_reference(shared_data: Path) -> None:
    result = evaluate(
        shared_data / "dl19" / "run.bm25.top100.trec", shared_data / "dl19" / "qrels.txt"
    )
    assert list(result.aggregate) == list(DEFAULT_METRICS)
    assert round(result.aggregate["nDCG@10"], 4) == 0.5058
    assert len(result.per_query) == 43
    assert result.unjudged_queries == () and result.missing_queries == ()


def test_dl19_candidates_file_encodes_the_same_bm25_run(shared_data: Path) -> None:
    run = run_from_candidates(read_candidates(shared_data / "dl19" / "bm25_top100.jsonl"))
    assert run == read_run(shared_data / "dl19" / "run.bm25.top100.trec")
    assert (
        round(evaluate(run, shared_data / "dl19" / "qrels.txt").aggregate["nDCG@10"], 4) == 0.5058
    )


def test_dl19_tasb(shared_data: Path) -> None:
    result = evaluate(
        shared_data / "dl19" / "run.d_bert_kd_tasb.top100.trec", shared_data / "dl19" / "qrels.txt"
    )
    assert round(result.aggregate["nDCG@10"], 4) == 0.7210


def test_aggregate_and_per_query_agree_with_ir_measures_on_the_demo() -> None:
    run, qrels = read_run(DEMO_DIR / "run.bm25.trec"), read_qrels(DEMO_DIR / "qrels.trec")
    metrics = [*DEFAULT_METRICS, "P@5", "nDCG"]
    result = evaluate(run, qrels, metrics)
    measures = [ir_measures.parse_measure(m) for m in metrics]
    expected = {
        str(m): v for m, v in ir_measures.calc_aggregate(measures, qrels, run_as_dict(run)).items()
    }
    assert result.aggregate == pytest.approx(expected)
    for metric in ir_measures.iter_calc(measures, qrels, run_as_dict(run)):
        assert result.per_query[metric.query_id][str(metric.measure)] == pytest.approx(metric.value)


def test_queries_without_qrels_are_reported_and_measured_as_ir_measures_does() -> None:
    """Run queries without labels are left out; judged queries the run lacks count as 0."""
    qrels = {"q1": {"a": 2, "b": 0}, "q2": {"c": 2}, "q3": {"d": 1}}
    run = {
        "q1": Ranking.from_order("q1", ["b", "a"]),
        "q2": Ranking.from_order("q2", ["c"]),
        "q9": Ranking.from_order("q9", ["a"]),
    }
    result = evaluate(run, qrels, ["nDCG@10", "RR(rel=2)@10"])
    assert result.unjudged_queries == ("q9",)
    assert result.missing_queries == ("q3",)
    assert list(result.per_query) == ["q1", "q2", "q3"]
    assert result.per_query["q3"] == {"nDCG@10": 0.0, "RR(rel=2)@10": 0.0}
    measures = [ir_measures.parse_measure(m) for m in ("nDCG@10", "RR(rel=2)@10")]
    expected = {
        str(m): v for m, v in ir_measures.calc_aggregate(measures, qrels, run_as_dict(run)).items()
    }
    assert result.aggregate == pytest.approx(expected)
    assert result.aggregate["RR(rel=2)@10"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)


def test_empty_run_and_unknown_metrics_are_bad_input() -> None:
    qrels = read_qrels(DEMO_DIR / "qrels.trec")
    with pytest.raises(InputError, match="^the run is empty$"):
        evaluate({}, qrels)
    run = read_run(DEMO_DIR / "run.bm25.trec")
    for name in ("nDCG@x", "ndcg_cut_10", "Precsion@10", "nDCG@10)", ""):
        with pytest.raises(InputError) as error:
            evaluate(run, qrels, [name])
        assert str(error.value).startswith(f"unknown metric {name!r}: use ir-measures names")


def test_holm_against_a_hand_computed_example() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, max(0.06, 0.04*1)=0.06; back in input order
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capped at 1; NaN stays NaN and does not count as a hypothesis
    adjusted = holm([0.5, math.nan, 0.4])
    assert (
        adjusted[0] == pytest.approx(0.8)
        and math.isnan(adjusted[1])
        and adjusted[2] == pytest.approx(0.8)
    )
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    assert holm([0.02]) == [0.02]
    assert holm([]) == []


def test_paired_t_tests_against_scipy() -> None:
    qids = [f"q{i}" for i in range(8)]
    base = [0.1, 0.4, 0.35, 0.8, 0.5, 0.2, 0.6, 0.3]
    better = [0.3, 0.5, 0.45, 0.9, 0.7, 0.2, 0.8, 0.6]
    noisy = [0.2, 0.3, 0.5, 0.7, 0.55, 0.1, 0.65, 0.35]
    per_query = {
        name: {q: {"nDCG@10": v, "AP@100": v / 2} for q, v in zip(qids, values, strict=True)}
        for name, values in (("base", base), ("better", better), ("noisy", noisy))
    }
    per_query["noisy"].pop("q7")  # compared over the queries both systems have
    tests = paired_t_tests(per_query, "base", ["nDCG@10", "AP@100"])
    assert [(t.metric, t.system) for t in tests] == [
        ("nDCG@10", "better"),
        ("nDCG@10", "noisy"),
        ("AP@100", "better"),
        ("AP@100", "noisy"),
    ]
    for metric, scale in (("nDCG@10", 1.0), ("AP@100", 0.5)):
        raw = [
            stats.ttest_rel([v * scale for v in better], [v * scale for v in base]).pvalue,
            stats.ttest_rel([v * scale for v in noisy[:7]], [v * scale for v in base[:7]]).pvalue,
        ]
        better_test, noisy_test = (t for t in tests if t.metric == metric)
        assert [better_test.p_value, noisy_test.p_value] == pytest.approx(raw)
        assert [better_test.p_holm, noisy_test.p_holm] == pytest.approx(holm(raw))
        assert better_test.mean_difference == pytest.approx(
            scale * sum(b - a for a, b in zip(base, better, strict=True)) / 8
        )
        assert (better_test.queries, noisy_test.queries) == (8, 7)
        assert better_test.baseline == "base"


def test_paired_t_test_of_identical_systems_is_not_significant() -> None:
    per_query = {name: {"q1": {"m": 0.5}, "q2": {"m": 0.7}} for name in ("a", "b")}
    [test] = paired_t_tests(per_query, "a", ["m"])
    assert (test.mean_difference, test.p_value, test.p_holm) == (0.0, 1.0, 1.0)
