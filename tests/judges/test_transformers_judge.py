"""The `hf` judge with the real SmolLM2-135M-Instruct (loaded once per session): probabilities and
token counts, batching that changes nothing, both orders through the executor, unusable answers,
the listwise form; the encoder-decoder path with a tiny randomly initialised T5 (plumbing only).

SmolLM2-135M is close to a random judge: these tests check the machinery, never ranking quality."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from judge_helpers import AskBlock, AskPairs, CountingJudge

from rankpipe.data.datasets import Dataset
from rankpipe.errors import InputError
from rankpipe.executor import Executor
from rankpipe.judges.base import BlockPrompt, PairPrompt, SetPrompt, setwise_form
from rankpipe.judges.prompts import (
    encode_prompt,
    load_prompt,
    permutation_token_budget,
    render,
    render_pair,
)
from rankpipe.judges.spec import make_judge, make_list_judge
from rankpipe.judges.transformers import TransformersJudge

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"


def pairs(demo: Dataset, count: int) -> list[PairPrompt]:
    """Pairs of demo passages of different lengths, from different queries."""
    prompts = []
    for n, item in enumerate(demo.candidates[:count]):
        a, b = item.candidates[n % 3], item.candidates[5 + n]
        prompts.append(PairPrompt(item.query, a, b))
    return prompts


def test_probabilities_and_token_counts(smollm2: TransformersJudge, demo: Dataset) -> None:
    prompts = pairs(demo, 3)
    judgments = smollm2.judge(prompts)
    assert len(judgments) == 3
    for prompt, judgment in zip(prompts, judgments, strict=True):
        assert 0.0 < judgment.p_a < 1.0 and judgment.valid
        text = render_pair(smollm2.template, smollm2.loaded.tokenizer,
                           prompt.query.text, prompt.a.text, prompt.b.text)
        assert judgment.prompt_tokens == len(encode_prompt(smollm2.loaded.tokenizer, text))
        words = len(f"{prompt.query.text} {prompt.a.text} {prompt.b.text}".split())
        assert words < judgment.prompt_tokens < 3 * words + 100
        assert judgment.completion_tokens == 1


def test_left_padded_batches_match_one_by_one(smollm2: TransformersJudge, demo: Dataset) -> None:
    prompts = pairs(demo, 3)
    batched = TransformersJudge(SMOLLM2, device="cpu", batch_size=3)
    assert batched.loaded is not smollm2.loaded  # each judge owns its model
    together = batched.judge(prompts)
    assert len({j.prompt_tokens for j in together}) > 1  # the batch really is padded
    alone = [smollm2.judge([p])[0] for p in prompts]
    for x, y in zip(together, alone, strict=True):
        assert x.p_a == pytest.approx(y.p_a, abs=1e-4)
        assert x.prompt_tokens == y.prompt_tokens


def test_identity_names_what_changes_answers(smollm2: TransformersJudge) -> None:
    prp, rankgpt, setwise = load_prompt("prp"), load_prompt("rankgpt"), load_prompt("setwise")
    assert smollm2.identity == (
        f"hf:{SMOLLM2},weights={smollm2.weights.source},prompt=prp#{prp.digest},"
        f"list_prompt=rankgpt#{rankgpt.digest},set_prompt=setwise#{setwise.digest},"
        "dtype=float32,min_mass=0.5"
    )
    other = make_judge(f"hf:{SMOLLM2},batch_size=3,device=cpu,prompt=prp_fewshot,min_mass=0.2")
    assert other.identity != smollm2.identity
    assert "prompt=prp_fewshot#" in other.identity and "min_mass=0.2" in other.identity
    assert "batch_size" not in other.identity and "device" not in other.identity
    assert make_judge(f"hf:{SMOLLM2},batch_size=3").identity == smollm2.identity


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("temperature=1", r"unknown option\(s\) temperature"),
        ("prompt=rankgpt", "prompt=rankgpt is a listwise prompt"),
        ("list_prompt=prp", "list_prompt=prp is a pairwise prompt"),
        ("prompt=nope", "unknown prompt 'nope'"),
        ("dtype=int8", "dtype must be one of float32, bfloat16, float16"),
        ("batch_size=0", "batch_size must be at least 1"),
        ("min_mass=2", r"min_mass must lie in \[0, 1\]"),
        ("batch_size=many", "not a valid int"),
    ],
)
def test_bad_options_are_input_errors(options: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_judge(f"hf:{SMOLLM2},{options}")


def test_unknown_model_and_missing_gpu_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="hf needs a model"):
        make_judge("hf:")
    with pytest.raises(InputError, match="not a local path"):
        make_judge(f"hf:{tmp_path}/missing-model", qrels=None)
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            make_judge(f"hf:{SMOLLM2},device=cuda")


def test_both_orders_through_the_executor(smollm2: TransformersJudge, demo: Dataset) -> None:
    item = demo.candidates[0].truncated(3)
    strategy, judge = AskPairs([(0, 2)]), CountingJudge(smollm2)
    ledger = Executor(judge, both_orders=True).run([item], strategy, top_k=3).ledger
    (answer,), = strategy.answers
    asked = {(p.a.docid, p.b.docid): j for p, j in judge.seen}
    a, b = item.candidates[0].docid, item.candidates[2].docid
    forward, backward = asked[a, b], asked[b, a]
    assert judge.calls == 1 and len(asked) == 2  # both orders in one batch
    assert answer == pytest.approx((forward.p_a + 1 - backward.p_a) / 2, abs=1e-4)
    total = ledger.total()
    assert total["inferences"] == 2 and total["invalid_answers"] == 0
    assert total["prompt_tokens"] == forward.prompt_tokens + backward.prompt_tokens
    assert total["completion_tokens"] == 2


def test_answers_off_the_choices_are_invalid_counted_and_logged_once(
    smollm2: TransformersJudge, demo: Dataset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Choices the PRP question never asks for get almost no probability: below min_mass."""
    source = Path(__file__).resolve().parents[2] / "prompts" / "prp.toml"
    odd = tmp_path / "odd_choices.toml"
    odd.write_text(source.read_text().replace('["A", "B"]', '["Zebra", "Quokka"]'))
    odd_judge = make_judge(f"hf:{SMOLLM2},device=cpu,prompt={odd}")
    assert isinstance(odd_judge, TransformersJudge)
    judge, item = CountingJudge(odd_judge), demo.candidates[1].truncated(3)
    with caplog.at_level(logging.WARNING, logger="rankpipe.judges.transformers"):
        asked = AskPairs([(0, 1), (1, 2)])
        ledger = Executor(judge, both_orders=False).run([item], asked, 3).ledger
    assert ledger.total()["invalid_answers"] == 2
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "2 of 2 answers were neither Zebra nor Quokka" in warnings[0]
    for _, judgment in judge.seen:
        assert judgment.p_a == 0.5 and not judgment.valid and judgment.completion_tokens == 1


def test_min_mass_one_rejects_every_answer(smollm2: TransformersJudge, demo: Dataset) -> None:
    """P(A) + P(B) < 1 whenever any other token has probability: every answer is rejected."""
    strict = TransformersJudge(SMOLLM2, device="cpu", min_mass=1.0)
    (judgment,) = strict.judge(pairs(demo, 1))
    assert not judgment.valid and judgment.p_a == 0.5


def test_listwise_form_returns_permutations_with_repairs_counted(
    smollm2: TransformersJudge, demo: Dataset
) -> None:
    list_judge = make_list_judge(f"hf:{SMOLLM2},device=cpu")
    assert list_judge.identity == smollm2.identity  # one judge object serves both forms
    judge, item = CountingJudge(list_judge), demo.candidates[0]
    results = Executor(judge).run([item], AskBlock(3), top_k=3)
    run, ledger = results.run, results.ledger
    ((prompt, judgment),) = judge.seen
    assert isinstance(prompt, BlockPrompt) and len(prompt.passages) == 3
    assert sorted(judgment.order) == [0, 1, 2]
    assert run[item.query.qid].docids[:3] == tuple(prompt.passages[i].docid for i in judgment.order)
    assert 0 < judgment.completion_tokens <= permutation_token_budget(smollm2.loaded.tokenizer, 3)
    assert judgment.prompt_tokens > sum(len(c.text.split()) for c in prompt.passages)
    total = ledger.total()
    assert total["inferences"] == 1 and total["completion_tokens"] == judgment.completion_tokens
    assert total["invalid_answers"] == judgment.repairs  # the ledger counts the parser's repairs


def test_setwise_probabilities_are_a_distribution_over_the_labels_shown(
    smollm2: TransformersJudge, demo: Dataset
) -> None:
    import torch

    assert setwise_form(smollm2) is smollm2
    item = demo.candidates[0]
    prompts = [SetPrompt(item.query, item.candidates[:3]),
               SetPrompt(item.query, item.candidates[3:7])]
    answers = smollm2.choose(prompts)
    tokenizer, template = smollm2.loaded.tokenizer, smollm2.set_template
    for prompt, answer in zip(prompts, answers, strict=True):
        k = len(prompt.passages)
        assert len(answer.probs) == k and answer.valid and answer.completion_tokens == 1
        assert sum(answer.probs) == pytest.approx(1.0, abs=1e-6) and min(answer.probs) > 0
        # the same numbers from the model directly: the labels' logits at the answer position
        messages = template.set_messages(prompt.query.text, [c.text for c in prompt.passages])
        ids = encode_prompt(tokenizer, render(tokenizer, messages, template.answer_prefix))
        assert answer.prompt_tokens == len(ids)
        assert tokenizer.decode(ids).endswith(f"assistant\n{template.answer_prefix}")
        with torch.inference_mode():
            logits = smollm2.loaded.model(torch.tensor([ids])).logits[0, -1]
        labels = [tokenizer(f" {c}", add_special_tokens=False)["input_ids"][0]
                  for c in template.choices[:k]]
        expected = torch.softmax(logits[labels].float(), dim=0).tolist()
        assert answer.probs == pytest.approx(expected, abs=1e-4)
    strict = TransformersJudge(SMOLLM2, device="cpu", min_mass=1.0)
    (uniform,) = strict.choose(prompts[:1])
    assert not uniform.valid and uniform.probs == pytest.approx((1 / 3,) * 3)


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory, bert_tokenizer: Any) -> Path:
    """A 2-layer T5 with random weights and MiniLM's WordPiece tokenizer (same vocabulary size)."""
    torch = pytest.importorskip("torch")
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(bert_tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=2,
        pad_token_id=bert_tokenizer.pad_token_id, eos_token_id=bert_tokenizer.sep_token_id,
        decoder_start_token_id=bert_tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(config).save_pretrained(folder)
    bert_tokenizer.save_pretrained(folder)
    return folder


def test_seq2seq_plumbing_with_a_random_tiny_t5(tiny_t5: Path, demo: Dataset) -> None:
    """Plumbing only: the weights are random, so nothing here says a T5 ranks well. The prompt goes
    to the encoder, "Passage" to the decoder, and batching changes nothing."""
    judge = make_judge(f"hf:{tiny_t5},device=cpu,batch_size=2")
    assert isinstance(judge, TransformersJudge) and judge.loaded.seq2seq
    local = f"hf:{tiny_t5},weights=local:{tiny_t5.resolve()},weights#"
    assert judge.identity.startswith(local) and ",prompt=prp#" in judge.identity
    assert judge.prefix_kv is None  # encoder-decoders run whole
    prompts = pairs(demo, 3)
    together = judge.judge(prompts)
    for prompt, judgment in zip(prompts, together, strict=True):
        alone = judge.judge([prompt])[0]
        assert judgment.p_a == pytest.approx(alone.p_a, abs=1e-4)
        assert 0.0 < judgment.p_a < 1.0 and judgment.completion_tokens == 1
        encoder_text = render_pair(judge.template, judge.loaded.tokenizer, prompt.query.text,
                                   prompt.a.text, prompt.b.text, prefix=False)
        encoder_tokens = len(encode_prompt(judge.loaded.tokenizer, encoder_text))
        assert judgment.prompt_tokens == encoder_tokens + 2  # decoder: start token, "passage"
    assert not all(j.valid for j in together)  # random weights spread mass over 30522 tokens
    blocks = [BlockPrompt(item.query, item.candidates[:4]) for item in demo.candidates[:2]]
    for block in judge.rank(blocks):
        assert sorted(block.order) == [0, 1, 2, 3]
        assert block.completion_tokens > 0


def test_a_prompt_longer_than_the_model_is_an_input_error(
    smollm2: TransformersJudge, demo: Dataset, tmp_path: Path
) -> None:
    source = Path(__file__).resolve().parents[2] / "prompts" / "prp.toml"
    long = tmp_path / "long_passages.toml"
    long.write_text(source.read_text().replace("max_words = 200", "max_words = 6000"))
    judge = TransformersJudge(SMOLLM2, device="cpu", prompt=str(long))
    item = demo.candidates[0]
    huge = replace(item.candidates[0], text=" ".join(["sourdough"] * 5000))
    with pytest.raises(InputError, match=r"exceeds the model's 8192 positions"):
        judge.judge([PairPrompt(item.query, huge, huge)])
