"""The simulated judge's token counts against a real tokenizer's count of the rendered prompts
(SmolLM2-135M-Instruct's tokenizer, the default), through the judge and through the executor's
ledger; counting never changes an answer or the identity."""

from __future__ import annotations

import random

import pytest

from rankpipe.data.datasets import Dataset
from rankpipe.data.types import Candidate, Query
from rankpipe.executor import Executor
from rankpipe.judges.base import BlockPrompt, PairPrompt, SetPrompt
from rankpipe.judges.prompts import encode_blocks, encode_pairs, encode_prompt, load_prompt, render
from rankpipe.judges.simulated import SimulatedJudge
from rankpipe.judges.spec import make_judge
from rankpipe.judges.token_counts import TokenCounter, load_tokenizer
from rankpipe.strategies.registry import make_strategy

pytestmark = pytest.mark.slow  # loads a tokenizer (transformers)


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def sample_pairs(data: Dataset, per_query: int, seed: int = 0) -> list[PairPrompt]:
    rng = random.Random(seed)
    prompts = []
    for item in data.candidates:
        for _ in range(per_query):
            a, b = rng.sample(item.candidates, 2)
            prompts.append(PairPrompt(item.query, a, b))
    return prompts


def real_pair_counts(counter: TokenCounter, prompts: list[PairPrompt]) -> list[int]:
    return [len(ids) for ids in encode_pairs(counter.pair_template, counter.tokenizer, prompts)]


def real_block_counts(counter: TokenCounter, prompts: list[BlockPrompt]) -> list[int]:
    return [len(ids) for ids in encode_blocks(counter.list_template, counter.tokenizer, prompts)]


def test_pairwise_counts_equal_the_tokenized_prompts(counter: TokenCounter, demo: Dataset) -> None:
    prompts = sample_pairs(demo, 30)
    counted = counter.pair_prompts(prompts)
    assert counted == real_pair_counts(counter, prompts)
    assert min(counted) > 100  # chat template, instruction and two passages
    assert counter.pair_prompts(prompts) == counted  # memoized: same answer the second time


def test_listwise_counts_equal_the_tokenized_prompts(counter: TokenCounter, demo: Dataset) -> None:
    rng = random.Random(1)
    prompts = [
        BlockPrompt(item.query, tuple(rng.sample(item.candidates, size)))
        for item in demo.candidates
        for size in (2, 5, 20)
    ]
    assert counter.block_prompts(prompts) == real_block_counts(counter, prompts)


def test_dl19_counts_are_exact(counter: TokenCounter, dl19: Dataset) -> None:
    """The stated tolerance: exact on 10 sampled pairs and 2 blocks of 20 of every DL19 query."""
    prompts = sample_pairs(dl19, 10)
    assert counter.pair_prompts(prompts) == real_pair_counts(counter, prompts)
    rng = random.Random(2)
    blocks = [
        BlockPrompt(item.query, tuple(rng.sample(item.candidates, 20)))
        for item in dl19.candidates
        for _ in range(2)
    ]
    assert counter.block_prompts(blocks) == real_block_counts(counter, blocks)


def test_awkward_whitespace_stays_within_two_tokens(counter: TokenCounter) -> None:
    """Texts that start or end with whitespace or punctuation, runs of blank lines, one word:
    the boundary approximation may miss a token or two at each edge, never more."""
    query = Query("q", '  what is a "cat"?\n\n')
    texts = ["cat", '"quoted" text.', "(parenthesis) and 12,000 numbers!", "x\n\n\ny", "\t tab"]
    passages = [Candidate(f"d{i}", t) for i, t in enumerate(texts)]
    prompts = [PairPrompt(query, a, b) for a in passages for b in passages if a != b]
    for got, want in zip(
        counter.pair_prompts(prompts), real_pair_counts(counter, prompts), strict=True
    ):
        assert abs(got - want) <= 2
    block = [BlockPrompt(query, tuple(passages))]
    assert abs(counter.block_prompts(block)[0] - real_block_counts(counter, block)[0]) <= 2 * 6


def test_permutation_completion_tokens(counter: TokenCounter) -> None:
    tokenizer = counter.tokenizer
    written = "3] > [2] > [1]"
    expected = len(tokenizer(written, add_special_tokens=False)["input_ids"]) + 1
    assert counter.permutation_tokens(3) == expected


def test_sim_judge_reports_tokens_and_answers_as_without(
    counter: TokenCounter, demo: Dataset
) -> None:
    plain = SimulatedJudge(demo.qrels, noise=0.2, bias=0.1)
    counting = SimulatedJudge(demo.qrels, noise=0.2, bias=0.1, tokens=counter)
    assert plain.identity == counting.identity
    prompts = sample_pairs(demo, 5)
    with_tokens, without = counting.judge(prompts), plain.judge(prompts)
    assert [j.p_a for j in with_tokens] == [j.p_a for j in without]
    assert [j.prompt_tokens for j in with_tokens] == real_pair_counts(counter, prompts)
    assert {j.completion_tokens for j in with_tokens} == {1}
    assert {j.prompt_tokens for j in without} == {0}
    block = [BlockPrompt(demo.candidates[0].query, demo.candidates[0].candidates[:4])]
    ranked = counting.rank(block)[0]
    assert ranked.order == plain.rank(block)[0].order
    assert ranked.prompt_tokens == real_block_counts(counter, block)[0]
    assert ranked.completion_tokens == counter.permutation_tokens(4)


def test_spec_options(demo: Dataset) -> None:
    assert isinstance(make_judge("sim:noise=0.1", demo.qrels).tokens, TokenCounter)
    assert make_judge("sim:noise=0.1,tokens=false", demo.qrels).tokens is None
    fewshot = make_judge("sim:prompt=prp_fewshot", demo.qrels).tokens
    assert fewshot.pair_template == load_prompt("prp_fewshot")


def test_ledger_tokens_match_the_tokenized_prompts(counter: TokenCounter, demo: Dataset) -> None:
    """Through the executor: the ledger's prompt tokens are the real tokenizer's count of exactly
    the prompts the judge was sent."""
    sent: list[PairPrompt] = []

    class Recording(SimulatedJudge):
        def judge(self, prompts):  # type: ignore[no-untyped-def]
            sent.extend(prompts)
            return super().judge(prompts)

    judge = Recording(demo.qrels, noise=0.1, tokens=counter)
    items = demo.candidates[:4]
    ledger = Executor(judge, batch_size=16).run(items, make_strategy("heapsort"), 5).ledger
    total = ledger.total()
    assert total["prompt_tokens"] == sum(real_pair_counts(counter, sent)) > 0
    assert total["completion_tokens"] == len(sent) == total["inferences"]
    assert total["standalone_prompt_tokens"] == total["prompt_tokens"]


def test_default_tokenizer_loads_offline() -> None:
    assert load_tokenizer("HuggingFaceTB/SmolLM2-135M-Instruct").chat_template


def test_setwise_counts_equal_the_tokenized_prompts(counter: TokenCounter, demo: Dataset) -> None:
    rng = random.Random(3)
    prompts = [
        SetPrompt(item.query, tuple(rng.sample(item.candidates, size)))
        for item in demo.candidates
        for size in (2, 4, 10)
    ]
    template, tokenizer = counter.set_template, counter.tokenizer
    real = [
        len(
            encode_prompt(
                tokenizer,
                render(
                    tokenizer,
                    template.set_messages(p.query.text, [c.text for c in p.passages]),
                    template.answer_prefix,
                ),
            )
        )
        for p in prompts
    ]
    assert counter.set_prompts(prompts) == real
    chosen = SimulatedJudge(demo.qrels, noise=0.1, tokens=counter).choose(prompts[:3])
    plain = SimulatedJudge(demo.qrels, noise=0.1).choose(prompts[:3])
    assert [c.prompt_tokens for c in chosen] == real[:3]
    assert {c.completion_tokens for c in chosen} == {1}
    assert [c.probs for c in chosen] == [c.probs for c in plain]
