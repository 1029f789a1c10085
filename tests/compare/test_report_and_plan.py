"""The report folder (Markdown, CSV, JSON, PNGs) and the planner that reads it back."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from compare_helpers import AllPairs, Bubble

from rankpipe.compare.costmodel import llm_calls
from rankpipe.compare.experiment import Configuration, Experiment, run_experiment
from rankpipe.compare.planner import Budget, load_comparison, make_plan
from rankpipe.compare.plots import pareto_frontier
from rankpipe.compare.report import write_report
from rankpipe.compare.summary import summarize
from rankpipe.data.datasets import Dataset
from rankpipe.errors import InputError
from rankpipe.judges.simulated import SimulatedJudge

SIZES = [1, 4, 16]
SOURCE = ["--dataset", "demo", "--depth", "100"]


@pytest.fixture(scope="module")
def experiment(demo: Dataset) -> Experiment:
    assert demo.qrels is not None
    configurations = [
        Configuration(Bubble(passes=1)),
        Configuration(Bubble(passes=3), orders="one"),
        Configuration(AllPairs()),
        Configuration("first-stage"),
    ]
    return run_experiment(
        demo.candidates,
        demo.qrels,
        SimulatedJudge(demo.qrels, noise=0.1),
        configurations,
        batch_size=8,
    )


@pytest.fixture(scope="module")
def folder(experiment: Experiment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    write_report(
        experiment, summarize(experiment, SIZES), out, judge="sim:noise=0.1", source=SOURCE
    )
    return out


def test_pareto_frontier_keeps_the_points_nothing_beats() -> None:
    points = [(10, 0.5), (5, 0.6), (20, 0.7), (5, 0.4), (30, 0.7), (8, 0.6)]
    assert pareto_frontier(points) == [1, 2]
    assert pareto_frontier([]) == []


def test_the_report_folder_holds_tables_plots_runs_and_ledgers(
    folder: Path, experiment: Experiment
) -> None:
    for name in ("compare.md", "compare.csv", "compare.json"):
        assert (folder / name).stat().st_size > 0
    for name in ("pareto.png", "calls_by_batch_size.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((folder / "compare.json").read_text())
    assert [c["label"] for c in record["configurations"]] == [
        t.configuration.label for t in experiment.trials
    ]
    for entry in record["configurations"]:
        assert (folder / entry["run"]).is_file() and (folder / entry["cost"]).is_file()
    rows = list(csv.DictReader((folder / "compare.csv").open()))
    allpairs = next(r for r in rows if r["strategy"] == "all-pairs")
    # 20 candidates per demo query: 190 pairs, 380 prompts in one round
    assert float(allpairs["distinct_prompts"]) == 380
    assert [float(allpairs[f"calls_b{b}"]) for b in SIZES] == [380, 95, 24]
    markdown = (folder / "compare.md").read_text()
    assert (
        "bubble (one order)" in markdown
        and "![effectiveness against LLM calls](pareto.png)" in markdown
    )
    assert f"**{record['best']}**" in markdown


def test_plan_recommends_the_best_strategy_within_the_budget(folder: Path) -> None:
    comparison = load_comparison(folder)
    options = {o.label: o for o in comparison.options(4, comparison.cost_model())}
    assert options["all-pairs"].calls == 95  # ceil(380 / 4) in one round
    for limit in (95, 94):
        plan = make_plan(comparison, Budget("calls", limit, 4))
        assert plan.fitting == sorted(
            (o for o in options.values() if o.calls <= limit), key=lambda o: -o.value
        )
        assert plan.recommended == plan.fitting[0]
        assert (options["all-pairs"] in plan.fitting) == (limit == 95)
    assert (
        f"--strategy {plan.recommended.strategy} " in plan.command
        and "--batch-size 4" in plan.command
    )
    generous = make_plan(comparison, Budget("prompts", 10_000, 4))
    assert generous.recommended.value == max(o.value for o in options.values())


def test_plan_recomputes_calls_at_any_batch_size_from_the_ledgers(folder: Path) -> None:
    comparison = load_comparison(folder)
    ledger = comparison.ledgers["bubble"]
    expected = sum(llm_calls(c.round_prompts, 3) for c in ledger.per_query.values()) / len(
        ledger.per_query
    )
    bubble = next(o for o in comparison.options(3) if o.label == "bubble")
    assert bubble.calls == expected
    assert (
        next(o for o in comparison.options(3) if o.label == "all-pairs").calls == 127
    )  # ceil(380 / 3)


def test_plan_names_the_cheapest_option_when_nothing_fits(folder: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(folder, tmp_path / "copy"))
    comparison = load_comparison(folder)
    paying = [o for o in comparison.options(1) if o.label != "first-stage"]
    cheapest = min(paying, key=lambda o: o.rounds)
    record = json.loads((folder / "compare.json").read_text())
    record["configurations"] = [c for c in record["configurations"] if c["label"] != "first-stage"]
    (folder / "compare.json").write_text(json.dumps(record))
    with pytest.raises(
        InputError, match=f"no compared strategy fits 0.5 rounds.*the cheapest is {cheapest.label}"
    ):
        make_plan(load_comparison(folder), Budget("rounds", 0.5, 1))


def test_a_folder_without_a_comparison_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no comparison results"):
        load_comparison(tmp_path)
    (tmp_path / "compare.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable comparison"):
        load_comparison(tmp_path)
