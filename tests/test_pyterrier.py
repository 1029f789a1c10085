"""The PyTerrier route: `first_stage >> PairwiseReranker(...)` in pt.Experiment gives the nDCG@10
the CLI gives for the same judge and strategy, with no Java started."""

from __future__ import annotations

from pathlib import Path

import pytest

from rankpipe.cli.main import main
from rankpipe.data.datasets import Dataset
from rankpipe.evaluation import evaluate
from rankpipe.evaluation.metrics import parse_metrics

pt = pytest.importorskip("pyterrier", reason="the pyterrier extra is not installed")
from rankpipe.pyterrier import (  # noqa: E402
    PairwiseReranker,
    first_stage_frame,
    qrels_frame,
    topics_frame,
)

JUDGE, STRATEGY = "sim:noise=0.1", "quickselect"


def cli_ndcg(dataset: str, tmp_path: Path, *options: str) -> float:
    out = tmp_path / f"{dataset.replace('/', '-')}.trec"
    command = ["rerank", "--dataset", dataset, "--judge", JUDGE, "--strategy", STRATEGY]
    assert main([*command, *options, "--no-cache", "--output", str(out)]) == 0
    from rankpipe.data.datasets import load_dataset

    return evaluate(out, load_dataset(dataset).qrels).aggregate["nDCG@10"]


def experiment(data: Dataset, reranker: PairwiseReranker) -> dict[str, float]:
    first_stage = pt.Transformer.from_df(first_stage_frame(data.candidates))
    table = pt.Experiment(
        [first_stage, first_stage >> reranker],
        topics_frame(data.candidates),
        qrels_frame(data.qrels),
        parse_metrics(["nDCG@10"]),
        names=["first stage", "reranked"],
    )
    return dict(zip(table["name"], table["nDCG@10"], strict=True))


def test_experiment_on_the_demo_gives_the_clis_ndcg(demo: Dataset, tmp_path: Path) -> None:
    reranker = PairwiseReranker(JUDGE, STRATEGY, qrels=demo.qrels, cache=tmp_path / "c.sqlite")
    scores = experiment(demo, reranker)
    assert scores["reranked"] == pytest.approx(cli_ndcg("demo", tmp_path), abs=1e-12)
    assert scores["first stage"] == pytest.approx(0.7146, abs=5e-5)
    assert scores["reranked"] > scores["first stage"]
    assert not pt.java.started()  # no Terrier, no jars
    # the ledger of each call is kept, and the cache is shared: a second run costs no inference
    assert reranker.results[-1].cost.totals.inferences > 0
    experiment(demo, reranker)
    assert reranker.results[-1].cost.totals.inferences == 0
    reranker.close()


def test_experiment_on_dl19_gives_the_clis_ndcg(dl19: Dataset, tmp_path: Path) -> None:
    reranker = PairwiseReranker(JUDGE, STRATEGY, qrels=dl19.qrels, cache=None)
    scores = experiment(dl19, reranker)
    assert scores["first stage"] == pytest.approx(0.5058, abs=5e-5)
    assert scores["reranked"] == pytest.approx(cli_ndcg("dl19", tmp_path), abs=1e-12)


def test_the_transformer_keeps_other_columns_and_first_stage_scores(demo: Dataset) -> None:
    frame = first_stage_frame(demo.candidates[:2]).assign(source="bm25")
    out = PairwiseReranker("sim", "allpairs", qrels=demo.qrels, cache=None).transform(frame)
    assert len(out) == len(frame) and set(out["source"]) == {"bm25"}
    assert list(out.columns[:8]) == [
        "qid", "query", "docno", "text", "score", "rank", "first_stage_score", "first_stage_rank",
    ]
    merged = out.merge(frame, on=["qid", "docno"], suffixes=("", "_in"))
    assert (merged["first_stage_score"] == merged["score_in"]).all()
    assert (merged["first_stage_rank"] == merged["rank_in"]).all()
    for _, rows in out.groupby("qid"):
        assert list(rows["rank"]) == list(range(len(rows)))
        assert rows["score"].is_monotonic_decreasing


def test_an_empty_frame_gives_an_empty_frame(demo: Dataset) -> None:
    reranker = PairwiseReranker("sim", "allpairs", qrels=demo.qrels, cache=None)
    assert reranker.transform(first_stage_frame([])).empty
