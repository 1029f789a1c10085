"""compare and plan in tokens and estimated seconds: the report's estimates follow the time cost
model from each strategy's ledger, plans take budgets in GPU-seconds and latency; CLI options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compare_helpers import AllPairs, Bubble

from rankpipe.cli.main import main
from rankpipe.compare.experiment import Configuration, Experiment, run_experiment
from rankpipe.compare.planner import Budget, load_comparison, make_plan
from rankpipe.compare.report import COST_FIGURE, FITTED_FILE, write_report
from rankpipe.compare.summary import summarize
from rankpipe.compare.timecost import load_cost_model, round_tokens
from rankpipe.data.datasets import Dataset
from rankpipe.errors import InputError
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.judges.token_counts import TokenCounter

pytestmark = pytest.mark.slow  # the sim judge counts tokens with a real tokenizer
H200 = "qwen2.5-7b@h200"


@pytest.fixture(scope="module")
def experiment(demo: Dataset) -> Experiment:
    assert demo.qrels is not None
    judge = SimulatedJudge(demo.qrels, noise=0.1, tokens=TokenCounter())
    configurations = [Configuration(Bubble(passes=1)), Configuration(AllPairs())]
    return run_experiment(demo.candidates[:4], demo.qrels, judge, configurations, batch_size=8)


def test_estimates_follow_the_model_round_by_round(experiment: Experiment) -> None:
    model = load_cost_model(H200)
    summary = summarize(experiment, [1, 8], model)
    assert summary.cost_model is model and summary.fitted is not None
    allpairs = summary.row("all-pairs")
    assert allpairs.cost.prompt_tokens > 100 * allpairs.cost.distinct_prompts
    for b in (1, 8):
        expected = [
            model.round_seconds(*round_tokens(c)[0], b)
            for c in experiment.trials[1].ledger.per_query.values()
        ]
        time = allpairs.time[b]  # type: ignore[index]
        assert time.gpu_s == pytest.approx(sum(e.gpu_s for e in expected) / len(expected))
        assert time.latency_s == pytest.approx(sum(e.latency_s for e in expected) / 4)
    # one round: latency is one call; bubble's 19 one-comparison rounds are 19 sequential calls
    assert allpairs.time[8].latency_s < allpairs.time[8].gpu_s  # type: ignore[index]
    bubble = summary.row("bubble").time[8]  # type: ignore[index]
    assert bubble.latency_s == pytest.approx(bubble.gpu_s)
    # the rounds' tokens add up to the stand-alone tokens
    for cost in experiment.trials[0].ledger.per_query.values():
        rounds = round_tokens(cost)
        assert len(rounds) == len(cost.round_prompts)
        assert sum(r[1] for r in rounds) == pytest.approx(cost.standalone_prompt_tokens)
        assert cost.standalone_prompt_tokens > 0


def test_without_a_named_model_the_fitted_one_is_used(experiment: Experiment) -> None:
    summary = summarize(experiment, [8])
    assert summary.cost_model is summary.fitted is not None
    assert "measured calls of this comparison" in summary.cost_model.source


@pytest.fixture(scope="module")
def folder(experiment: Experiment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("timed")
    summary = summarize(experiment, [1, 8], load_cost_model(H200))
    write_report(experiment, summary, out, judge="sim:noise=0.1", source=["--dataset", "demo"])
    return out


def test_report_labels_every_estimate(folder: Path) -> None:
    markdown = (folder / "compare.md").read_text()
    assert "## Estimated time from tokens" in markdown
    assert "Estimates, not measurements" in markdown and "MODELS.md" in markdown
    assert (folder / COST_FIGURE).read_bytes()[:4] == b"\x89PNG"
    record = json.loads((folder / "compare.json").read_text())
    assert record["cost_model"]["name"] == H200
    assert set(record["configurations"][0]["estimated_time"]) == {"1", "8"}
    fitted = load_cost_model(str(folder / FITTED_FILE))
    assert fitted.source.startswith("measured calls of this comparison")


def test_plan_budgets_in_seconds(folder: Path) -> None:
    comparison = load_comparison(folder)
    model = comparison.cost_model()
    assert model is not None and model.name == H200
    options = {o.label: o for o in comparison.options(8, model)}
    allpairs, bubble = options["all-pairs"], options["bubble"]
    assert allpairs.value > bubble.value and allpairs.latency_s < bubble.latency_s  # type: ignore[operator]
    plan = make_plan(comparison, Budget("latency", allpairs.latency_s, 8))  # type: ignore[arg-type]
    assert plan.recommended.label == "all-pairs" and plan.model == model
    tight = min(allpairs.gpu_s, bubble.gpu_s)  # type: ignore[type-var]
    cheap = make_plan(comparison, Budget("seconds", tight, 8))
    assert all(o.gpu_s <= tight for o in cheap.fitting)  # type: ignore[operator]
    with pytest.raises(InputError, match="no compared strategy fits"):
        make_plan(comparison, Budget("latency", 1e-6, 8))


def test_plan_in_seconds_needs_a_time_model(folder: Path, tmp_path: Path) -> None:
    record = json.loads((folder / "compare.json").read_text())
    record["cost_model"] = None
    for entry in record["configurations"]:
        entry["cost"] = str(folder / entry["cost"])
    (tmp_path / "compare.json").write_text(json.dumps(record))
    comparison = load_comparison(tmp_path)
    with pytest.raises(InputError, match="no time cost model"):
        make_plan(comparison, Budget("seconds", 10.0, 8))
    plan = make_plan(comparison, Budget("seconds", 10.0, 8), load_cost_model(H200))
    assert plan.model is not None and plan.model.name == H200


def test_cli_compare_and_plan_in_time_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    demo = ["--dataset", "demo", "--judge", "sim:noise=0.1", "--max-queries", "3", "--no-cache"]
    args = ["compare", *demo, "--strategies", "heapsort,allpairs", "--batch-sizes", "1,8"]
    assert main([*args, "--batch-size", "8", "--cost-model", H200, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "est GPU-s b=8" in printed and "calibration: H200 prefill ceilings" in printed
    assert main(["plan", str(out), "--budget-latency", "100", "--batch-size", "8"]) == 0
    printed = capsys.readouterr().out
    assert "estimated:" in printed and "qwen2.5-7b@h200" in printed
    fitted = str(out / FITTED_FILE)
    assert main(["plan", str(out), "--budget-seconds", "100", "--cost-model", fitted]) == 0
    assert "fitted on sim:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cost-model", "gpt-9@tpu"], "neither a known shape@device"),
        (["--out", "{file}/sub"], "is not a directory"),
    ],
)
def test_cli_bad_cost_options_exit_2_before_judging(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    args = [
        "compare",
        "--dataset",
        "demo",
        "--judge",
        "sim:tokens=false",
        "--strategies",
        "heapsort",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main([*args, *(a.format(file=tmp_path / "file") for a in extra)]) == 2
    err = capsys.readouterr().err
    assert message in err and not (tmp_path / "out").exists()
