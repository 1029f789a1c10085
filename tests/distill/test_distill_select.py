"""The dev split and the selection of the best step: the measures, the split, the Selection's
bookkeeping (a later step replaces the kept one only when strictly better; the best is kept only
when clearly better than step 0), and a training run that only hurts leaving the student exactly
as it came."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankpipe.data.datasets import Dataset
from rankpipe.distill import dev as dev_module
from rankpipe.distill.config import TrainConfig, plan
from rankpipe.distill.dev import (
    DevScore,
    DevSet,
    Selection,
    agreement,
    clearly_better,
    ndcg,
    split_dev,
)
from rankpipe.distill.pipeline import MiningSettings, distill
from rankpipe.errors import InputError
from rankpipe.judges.simulated import SimulatedJudge


def test_agreement_counts_decided_pairs_and_half_for_ties() -> None:
    pairs = [(0, 1, 0.9), (1, 2, 0.2), (0, 2, 0.5)]  # the last is undecided: not counted
    assert agreement([3.0, 2.0, 1.0], pairs) == 0.5  # (0,1) agrees, (1,2) does not
    assert agreement([1.0, 1.0, 2.0], pairs) == 0.75  # a tie counts half
    assert agreement([1.0, 2.0], [(0, 1, 0.5)]) is None


def test_ndcg_is_one_for_the_ideal_order_and_lower_otherwise() -> None:
    gains = [0.0, 3.0, 1.0]
    assert ndcg([1, 2, 0], gains, gains) == pytest.approx(1.0)
    assert ndcg([0, 2, 1], gains, gains) < 1.0
    assert ndcg([0, 1], [0.0, 0.0], [0.0, 0.0]) == 0.0


def test_split_dev_by_fraction_by_list_and_refusals_naming_parameters() -> None:
    qids = [f"q{i}" for i in range(10)]
    dev = split_dev(qids, 0.2, seed=1)
    assert len(dev) == 2 and dev == split_dev(qids, 0.2, seed=1)
    assert split_dev(qids[:2], 0.2) == set()  # too few queries to hold any out
    assert split_dev(qids, 0.0) == set()
    assert split_dev(qids, 0.2, ["q3", "other"]) == {"q3"}
    with pytest.raises(InputError, match="dev_queries: none of them"):
        split_dev(qids, 0.2, ["other"])
    with pytest.raises(InputError, match="dev_fraction must lie in"):
        split_dev(qids, 1.5)


def test_steps_come_from_the_data_with_a_minimum() -> None:
    config = TrainConfig(batch_size=4, min_steps=40)
    schedule = plan(27, config)  # 7 steps an epoch: 6 epochs reach 40
    assert (schedule.steps, schedule.epochs, schedule.warmup_steps) == (42, 6.0, 4)
    assert schedule.eval_every == 4 and schedule.samples == 42 * 4
    assert plan(1000, config).steps == 250  # one epoch is already more than the minimum
    assert plan(27, TrainConfig(batch_size=2, min_steps=40), processes=2).samples == 42 * 4
    assert plan(27, TrainConfig(max_steps=5)).steps == 5
    with pytest.raises(InputError, match="min_steps must be at least 1"):
        TrainConfig(min_steps=0).check()


def test_selection_keeps_step_0_unless_a_later_step_is_strictly_better(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    model = torch.nn.Linear(2, 1)
    values = iter([0.6, 0.6, 0.7, 0.65])

    def fake_score(m: object, d: object, step: int = 0, round: int = 0) -> DevScore:
        with torch.no_grad():
            model.weight.fill_(float(step))  # the weights of step s are all s
        return DevScore(step, next(values), 0.0)

    monkeypatch.setattr(dev_module, "score_student", fake_score)
    selection = Selection(model, DevSet(()), margin=0)  # margin 0: any gain over step 0 counts
    for step in (0, 2, 4, 6):
        selection.evaluate(step)
    best = selection.restore()
    assert (
        best.step == 4 and float(model.weight[0, 0].detach()) == 4.0
    )  # a tie (step 2) did not replace


def scored(step: int, values: list[float]) -> DevScore:
    per_query = {f"q{i}": v for i, v in enumerate(values)}
    return DevScore(step, sum(values) / len(values), 0.0, per_query=per_query)


def test_clearly_better_takes_more_than_one_standard_error() -> None:
    base = scored(0, [0.5, 0.6, 0.7, 0.8])
    assert clearly_better(scored(4, [0.6, 0.7, 0.8, 0.9]), base, "agreement", 1.0)  # all gain
    assert not clearly_better(scored(4, [0.9, 0.6, 0.7, 0.8]), base, "agreement", 1.0)  # one: t=1
    assert clearly_better(scored(4, [0.9, 0.6, 0.7, 0.8]), base, "agreement", 0.0)
    noisy = scored(4, [0.9, 0.5, 0.8, 0.7])  # +0.4, -0.1, +0.1, -0.1: mean 0.075, SE 0.118
    assert not clearly_better(noisy, base, "agreement", 1.0)
    assert clearly_better(noisy, base, "agreement", 0.5)
    assert not clearly_better(base, base, "agreement", 0.0)  # no gain is never better
    assert not clearly_better(scored(4, [0.9]), scored(0, [0.5]), "agreement", 1.0)  # no SE


def test_selection_holds_back_a_best_step_not_clearly_better_than_step_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    model = torch.nn.Linear(2, 1)
    runs = {
        "one query": [[0.5, 0.5, 0.5], [0.5, 0.5, 0.8], [0.5, 0.5, 0.6]],
        "every query": [[0.5, 0.5, 0.5], [0.6, 0.6, 0.7], [0.5, 0.5, 0.6]],
    }
    kept = {}
    for name, values in runs.items():
        scores = iter(values)

        def fake_score(m: object, d: object, step: int = 0, round: int = 0) -> DevScore:
            with torch.no_grad():
                model.weight.fill_(float(step))
            return scored(step, next(scores))  # noqa: B023

        monkeypatch.setattr(dev_module, "score_student", fake_score)
        selection = Selection(model, DevSet(()))  # the default margin: 1 standard error
        for step in (0, 4, 8):
            selection.evaluate(step)
        kept[name] = (selection.restore().step, float(model.weight[0, 0].detach()))
    assert kept["one query"] == (0, 0.0)  # best step 4 held back: one query's gain is t = 1
    assert kept["every query"] == (4, 4.0)


@pytest.mark.slow
def test_training_that_only_hurts_leaves_the_student_unchanged(
    demo: Dataset, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    from rankpipe.distill.train import load_student

    out = tmp_path / "student"
    harmful = TrainConfig(max_steps=4, learning_rate=0.05, max_seq_length=32, eval_every=2)
    result = distill(
        demo.candidates[:6],
        SimulatedJudge(demo.qrels, noise=0.0),
        out,
        training=harmful,
        mining=MiningSettings(rank_top_k=6, keep=6),
        dev_fraction=0.34,
    )
    assert [s.step for s in result.dev_scores] == [0, 2, 4]
    assert result.dev_before is not None and result.dev_after == result.dev_before
    assert result.base_unchanged and "the output is the base model unchanged" in result.summary()
    saved = load_file(str(out / "model.safetensors"))
    base = load_student(harmful.student)[0].auto_model.state_dict()
    shared = [name for name in saved if name in base]
    assert len(shared) > 100
    assert all(bool((saved[name] == base[name]).all()) for name in shared)
    record = json.loads((out / "rounds.json").read_text())
    assert record["base_unchanged"] and record["rounds"][0]["kept_step"] == 0
