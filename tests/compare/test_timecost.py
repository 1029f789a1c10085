"""The time cost model's formula on hand-computed cases, its fits, its files, and the ledger fields
it reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankpipe.compare.timecost import (
    CallSample,
    TimeCostModel,
    TimeEstimate,
    load_cost_model,
    round_tokens,
)
from rankpipe.cost import CostLedger, QueryCost
from rankpipe.errors import InputError
from rankpipe.judges.base import BlockJudgment, Judgment

MODEL = TimeCostModel("toy", "hand-made", 0.5, 0.1, 0.01, 0.2, 0.05)


def test_call_seconds_by_hand() -> None:
    # 0.5 + 0.1*4 + 0.01*1000 + 3*(0.2 + 0.05*4) = 0.5 + 0.4 + 10 + 1.2
    assert MODEL.call_seconds(4, 1000, 3) == pytest.approx(12.1)
    assert MODEL.call_seconds(0, 0, 0) == 0.0


def test_round_splits_into_calls_by_hand() -> None:
    # 10 prompts of 100 tokens, answers of 1 token (no decoding) at b=4: calls of 4, 4, 2
    # call of 4: 0.5 + 0.4 + 4 = 4.9; call of 2: 0.5 + 0.2 + 2 = 2.7
    estimate = MODEL.round_seconds(10, 1000, 10, 4)
    assert estimate.gpu_s == pytest.approx(2 * 4.9 + 2.7)
    assert estimate.latency_s == pytest.approx(4.9)
    # answers of 5 tokens: 4 decoding steps per call, 4 * (0.2 + 0.05 * b)
    decoded = MODEL.round_seconds(10, 1000, 50, 4)
    assert decoded.gpu_s == pytest.approx(2 * (4.9 + 4 * 0.4) + 2.7 + 4 * 0.3)
    assert decoded.latency_s == pytest.approx(4.9 + 1.6)
    # a round smaller than the batch is one call
    assert MODEL.round_seconds(2, 200, 2, 32) == TimeEstimate(
        pytest.approx(2.7), pytest.approx(2.7)
    )


def test_query_sums_rounds_and_ledger_means() -> None:
    one = QueryCost(
        round_prompts=[10, 2], round_prompt_tokens=[1000, 200], round_completion_tokens=[10, 2]
    )
    two = QueryCost(round_prompts=[2], round_prompt_tokens=[200], round_completion_tokens=[2])
    estimate = MODEL.query_seconds(one, 4)
    assert estimate.gpu_s == pytest.approx(12.5 + 2.7)
    assert estimate.latency_s == pytest.approx(4.9 + 2.7)
    ledger = CostLedger(per_query={"1": one, "2": two})
    mean = MODEL.mean_seconds(ledger, 4)
    assert mean.gpu_s == pytest.approx((15.2 + 2.7) / 2)
    assert mean.latency_s == pytest.approx((7.6 + 2.7) / 2)


def test_rounds_without_token_lists_share_the_query_tokens() -> None:
    old = QueryCost(
        round_prompts=[30, 10], standalone_prompt_tokens=4000, standalone_completion_tokens=40
    )
    assert round_tokens(old) == [(30, 3000.0, 30.0), (10, 1000.0, 10.0)]


def test_ledger_fields_from_judgments() -> None:
    cost = QueryCost()
    cost.add_inference(Judgment(0.5, prompt_tokens=120, completion_tokens=1))

    class Reused:
        prompt_tokens, completion_tokens, prefix_reused_tokens = 100, 1, 60

    cost.add_inference(Reused())
    assert (cost.inferences, cost.prompt_tokens, cost.prefix_reused_tokens) == (2, 220, 60)
    cost.add_standalone_round([Judgment(1.0, 120, 1), BlockJudgment((1, 0), 300, 7)])
    cost.add_standalone_round([])
    cost.add_standalone_round([Judgment(1.0, 120, 1, prefix_reused_tokens=90), Reused()])
    assert cost.round_prompt_tokens == [420, 0, 220]
    assert cost.round_completion_tokens == [8, 0, 2]
    assert cost.round_reused_tokens == [0, 0, 150]
    assert (cost.standalone_prompt_tokens, cost.standalone_completion_tokens) == (640, 10)


def test_rounds_cost_the_prompt_tokens_computed_not_those_reused() -> None:
    cost = QueryCost(
        round_prompts=[4, 2], round_prompt_tokens=[1000, 500], round_completion_tokens=[4, 2],
        round_reused_tokens=[600, 0],
    )
    assert round_tokens(cost) == [(4, 400, 4), (2, 500, 2)]
    # 0.5 + 0.1*4 + 0.01*400 (not 1000) at batch 4; then 0.5 + 0.1*2 + 0.01*500
    assert MODEL.query_seconds(cost, 4).gpu_s == pytest.approx(4.9 + 5.7)
    before_reuse = QueryCost(  # a ledger written before reuse was counted: nothing subtracted
        round_prompts=[4], round_prompt_tokens=[1000], round_completion_tokens=[4]
    )
    assert round_tokens(before_reuse) == [(4, 1000, 4)]


def test_old_ledgers_still_read(tmp_path: Path) -> None:
    ledger = CostLedger(per_query={"1": QueryCost(inferences=3, round_prompts=[3])})
    ledger.write(tmp_path / "new.json")
    record = json.loads((tmp_path / "new.json").read_text())
    for name in (
        "prefix_reused_tokens", "round_prompt_tokens", "round_completion_tokens",
        "round_reused_tokens",
    ):
        del record["per_query"]["1"][name]
    (tmp_path / "old.json").write_text(json.dumps(record))
    assert CostLedger.read(tmp_path / "old.json").per_query["1"].round_prompt_tokens == []


def test_fit_recovers_the_coefficients() -> None:
    samples = [
        CallSample(b, tokens, steps, MODEL.call_seconds(b, tokens, steps))
        for b in (1, 3, 8)
        for tokens in (100 * b, 250 * b)
        for steps in (0, 5)
    ]
    fitted = TimeCostModel.fit(samples, "toy", "measured")
    assert fitted is not None and fitted.r_squared == pytest.approx(1.0)
    for name in ("overhead_s", "per_prompt_s", "prefill_token_s", "decode_step_s", "decode_seq_s"):
        assert getattr(fitted, name) == pytest.approx(getattr(MODEL, name), rel=1e-6, abs=1e-9)
    pairwise = TimeCostModel.fit([s for s in samples if s.decode_steps == 0], "toy", "measured")
    assert pairwise is not None and pairwise.decode_step_s == 0.0
    assert "no decoding seen" in pairwise.source
    assert TimeCostModel.fit([], "toy", "measured") is None


def test_named_device_model_reproduces_its_figures() -> None:
    model = load_cost_model("qwen2.5-7b@h200")
    assert "MODELS.md" in model.source and "not measured" in model.source
    for batch, rate in ((1, 33), (16, 155), (64, 157), (256, 158)):
        assert batch / model.call_seconds(batch, 256 * batch, 0) == pytest.approx(rate, rel=0.15)
    # a step is the fitted overhead: a 20-step answer costs 20 such passes more
    assert model.call_seconds(1, 256, 20) - model.call_seconds(1, 256, 0) == pytest.approx(
        20 * model.overhead_s
    )
    measured = TimeCostModel.from_figures(
        "x", "bench", [(1, 256, 33), (64, 256, 157)], [(1, 50.0), (64, 25.0)]
    )
    step = measured.call_seconds(1, 256, 1) - measured.call_seconds(1, 256, 0)
    assert 1 / step == pytest.approx(50.0, rel=0.01)
    batch_step = measured.call_seconds(64, 0, 1) - measured.call_seconds(64, 0, 0)
    assert 1 / batch_step == pytest.approx(25.0, rel=0.01)
    assert "decoding measured" in measured.source


def test_model_files_round_trip_and_bad_ones(tmp_path: Path) -> None:
    MODEL.write(tmp_path / "m.json")
    assert load_cost_model(str(tmp_path / "m.json")) == MODEL
    with pytest.raises(InputError, match="neither a known shape@device"):
        load_cost_model("llama-70b@tpu")
    (tmp_path / "bad.json").write_text('{"name": "x", "source": "y", "overhead_s": -1}')
    with pytest.raises(InputError, match="bad.json: a time cost model needs"):
        load_cost_model(str(tmp_path / "bad.json"))
    record = MODEL.to_dict() | {"overhead_s": "fast"}
    (tmp_path / "text.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="must be numbers"):
        load_cost_model(str(tmp_path / "text.json"))
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(InputError, match="not a readable time cost model"):
        load_cost_model(str(tmp_path / "junk.json"))


def test_run_seconds_batches_each_wave_across_queries() -> None:
    # wave 1: 3 + 3 prompts of 100 tokens -> at b=4 calls of 4 and 2; wave 2: query 1's 2 prompts
    one = QueryCost(
        round_prompts=[3, 2], round_prompt_tokens=[300, 200], round_completion_tokens=[3, 2]
    )
    two = QueryCost(round_prompts=[3], round_prompt_tokens=[300], round_completion_tokens=[3])
    estimate = MODEL.run_seconds(CostLedger(per_query={"1": one, "2": two}), 4)
    assert estimate.gpu_s == pytest.approx(4.9 + 2.7 + 2.7)
    assert estimate.latency_s == pytest.approx(4.9 + 2.7)
