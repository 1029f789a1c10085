"""Shared-prefix reuse and length-bucketed batches change no score: the `hf` judge with
`prefix_reuse=true` answers as its plain path does (float32, within float tolerance), across
batch sizes, across calls (prefixes cached), under a cache budget that evicts, with and without a
chat template; the real SmolLM2 too. Speed is measured in eval/bench_hotpath.py, not here."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest

from rankpipe.data.datasets import Dataset, load_dataset
from rankpipe.judges.base import PairPrompt
from rankpipe.judges.prefix import PrefixCache, Row, forward_rows, supports_prefix_reuse
from rankpipe.judges.prompts import encode_pairs, encode_pairs_with_prefixes, render_pair
from rankpipe.judges.spec import make_judge
from rankpipe.judges.transformers import TransformersJudge

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return load_dataset("demo")


def all_pairs(demo: Dataset, queries: int, passages: int) -> list[PairPrompt]:
    """Both orders of every pair among the first `passages` candidates of the first queries."""
    prompts = []
    for item in demo.candidates[:queries]:
        shown = item.candidates[:passages]
        prompts += [PairPrompt(item.query, a, b) for a, b in itertools.permutations(shown, 2)]
    return prompts


def logprobs(judge: TransformersJudge, prompts: list[PairPrompt]) -> list[tuple[float, float]]:
    return [(s.first, s.second) for s in judge.choice_logprobs(prompts)]


def assert_close(x: list[tuple[float, float]], y: list[tuple[float, float]]) -> None:
    assert len(x) == len(y)
    for (a1, b1), (a2, b2) in zip(x, y, strict=True):
        assert a1 == pytest.approx(a2, abs=1e-4) and b1 == pytest.approx(b2, abs=1e-4)


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_llama_plain_text"])
def test_prefixes_are_token_prefixes_shared_where_the_prompts_share_text(
    model: str, demo: Dataset, request: pytest.FixtureRequest
) -> None:
    judge = TransformersJudge(str(request.getfixturevalue(model)), device="cpu")
    prompts = all_pairs(demo, 2, 3)
    encoded = encode_pairs_with_prefixes(judge.template, judge.loaded.tokenizer, prompts)
    assert [e.ids for e in encoded] == encode_pairs(judge.template, judge.loaded.tokenizer, prompts)
    for e in encoded:
        assert 1 <= e.query_prefix < e.passage_prefix < len(e.ids)
    for x, y in itertools.combinations(zip(prompts, encoded, strict=True), 2):
        (p, e), (q, f) = x, y
        same_query = p.query == q.query
        assert (e.ids[: e.query_prefix] == f.ids[: f.query_prefix]) == same_query
        same_first = same_query and p.a == q.a
        assert (e.ids[: e.passage_prefix] == f.ids[: f.passage_prefix]) == same_first
    if model == "tiny_llama":  # byte-level BPE decodes to the very text: check where they end
        tokenizer, e, p = judge.loaded.tokenizer, encoded[0], prompts[0]
        text = render_pair(judge.template, tokenizer, p.query.text, p.a.text, p.b.text)
        query_part = tokenizer.decode(e.ids[: e.query_prefix])
        passage_part = tokenizer.decode(e.ids[: e.passage_prefix])
        assert text.startswith(query_part) and text.startswith(passage_part)
        a_starts, b_starts = text.index(p.a.text[:20]), text.index(p.b.text[:20])
        assert a_starts - 10 < len(query_part) <= a_starts
        assert b_starts - 16 < len(passage_part) <= b_starts


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_llama_plain_text"])
@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_prefix_reuse_changes_no_score(
    model: str, batch_size: int, demo: Dataset, request: pytest.FixtureRequest
) -> None:
    path = str(request.getfixturevalue(model))
    prompts = all_pairs(demo, 3, 4)
    plain = TransformersJudge(path, device="cpu", prefix_reuse=False, batch_size=1)
    reusing = TransformersJudge(path, device="cpu", batch_size=batch_size)
    assert plain.prefix_kv is None and reusing.prefix_kv is not None
    alone = [logprobs(plain, [p])[0] for p in prompts]
    assert_close(logprobs(reusing, prompts), alone)
    assert_close(logprobs(TransformersJudge(path, device="cpu", prefix_reuse=False,
                                            batch_size=batch_size), prompts), alone)
    stats = reusing.stats
    assert stats.prompt_tokens == sum(len(e) for e in
                                      encode_pairs(plain.template, plain.loaded.tokenizer, prompts))
    assert stats.computed_tokens < 0.7 * stats.prompt_tokens  # 12 passage prefixes run once
    assert stats.misses == 3 + 12 and stats.hits == 0
    assert {j.prompt_tokens for j in reusing.judge(prompts[:2])} == {
        j.prompt_tokens for j in plain.judge(prompts[:2])
    }


def test_prefixes_are_reused_across_calls_and_eviction_changes_no_score(
    tiny_llama: Path, demo: Dataset
) -> None:
    prompts = all_pairs(demo, 2, 5)
    plain = logprobs(TransformersJudge(str(tiny_llama), device="cpu", prefix_reuse=False), prompts)
    judge = TransformersJudge(str(tiny_llama), device="cpu")
    first = logprobs(judge, prompts[:10])
    computed, misses = judge.stats.computed_tokens, judge.stats.misses
    again = logprobs(judge, prompts[:10])  # every passage prefix cached: only the rest runs
    reused = len({(p.query, p.a) for p in prompts[:10]})
    assert judge.stats.hits == reused and judge.stats.misses == misses
    rest = encode_pairs_with_prefixes(judge.template, judge.loaded.tokenizer, prompts[:10])
    ran = judge.stats.computed_tokens - computed
    assert ran == sum(len(e.ids) - e.passage_prefix for e in rest)
    assert_close(first + logprobs(judge, prompts[10:]), plain)
    assert_close(again, plain[:10])
    # a budget that holds one prefix or none: evictions mid-call cost time, never a wrong answer
    tiny = TransformersJudge(str(tiny_llama), device="cpu", batch_size=4)
    assert tiny.prefix_kv is not None
    for budget in (0, 200_000):
        tiny.prefix_kv = PrefixCache(budget)
        assert_close(logprobs(tiny, prompts), plain)
        assert tiny.prefix_kv.used_bytes <= budget
    assert len(tiny.prefix_kv) >= 1


def test_reused_prefix_tokens_are_charged_once_and_reach_the_ledger(
    tiny_llama: Path, demo: Dataset
) -> None:
    from rankpipe.executor import Executor
    from rankpipe.strategies.registry import make_strategy

    judge = TransformersJudge(str(tiny_llama), device="cpu", batch_size=3)
    prompts = all_pairs(demo, 2, 4)
    for call in (prompts[:7], prompts[7:], prompts):  # cold, partly cached, all cached
        before = judge.stats.computed_tokens
        answers = judge.judge(call)
        ran = sum(j.prompt_tokens - j.prefix_reused_tokens for j in answers)
        assert ran == judge.stats.computed_tokens - before
        assert all(0 <= j.prefix_reused_tokens < j.prompt_tokens for j in answers)
    assert all(j.prefix_reused_tokens > 0 for j in answers)  # the third call: all prefixes kept
    plain = TransformersJudge(str(tiny_llama), device="cpu", prefix_reuse=False)
    assert {j.prefix_reused_tokens for j in plain.judge(prompts[:4])} == {0}

    fresh = TransformersJudge(str(tiny_llama), device="cpu")
    items = [item.truncated(4) for item in demo.candidates[:2]]
    ledger = Executor(fresh, batch_size=32, both_orders=True).run(
        items, make_strategy("allpairs"), 2
    ).ledger
    total = ledger.total()
    assert total["prompt_tokens"] - total["prefix_reused_tokens"] == fresh.stats.computed_tokens
    assert 0 < total["prefix_reused_tokens"] < total["prompt_tokens"]


def test_passages_that_start_alike_and_repeated_prompts(tiny_llama: Path, demo: Dataset) -> None:
    """Passages with a common beginning, an empty-ish passage, and a prompt asked twice in one
    call: the shared token prefixes grow or shrink, the scores do not change."""
    item = demo.candidates[0]
    a, b = item.candidates[:2]
    twin = replace(b, docid="twin", text=a.text + " and more")
    short = replace(b, docid="short", text="x")
    prompts = [PairPrompt(item.query, x, y) for x, y in
               [(a, twin), (twin, a), (a, short), (short, a), (a, b), (a, b), (short, short)]]
    plain = TransformersJudge(str(tiny_llama), device="cpu", prefix_reuse=False, batch_size=1)
    reusing = TransformersJudge(str(tiny_llama), device="cpu", batch_size=4)
    assert_close(logprobs(reusing, prompts), [logprobs(plain, [p])[0] for p in prompts])


def test_forward_rows_matches_whole_prompts(tiny_llama: Path) -> None:
    """Rows of different prefix and suffix lengths in one pass score as each prompt run whole,
    and the key-value tensors it keeps continue exactly."""
    import torch

    judge = TransformersJudge(str(tiny_llama), device="cpu", prefix_reuse=False, batch_size=1)
    model, pad = judge.loaded.model, judge.loaded.pad_id
    torch.manual_seed(1)
    prompts = [torch.randint(10, 1000, (n,)).tolist() for n in (9, 17, 30)]
    whole, _ = forward_rows(model, [Row(None, p) for p in prompts], pad, keep_kv=False)
    _, prefixes = forward_rows(model, [Row(None, p[:s]) for p, s in zip(prompts, (1, 8, 21),
                                                                         strict=True)], pad, True)
    assert prefixes is not None and [k.shape[-2] for k in prefixes] == [1, 8, 21]
    rows = [Row(k, p[k.shape[-2]:]) for k, p in zip(prefixes, prompts, strict=True)]
    split, _ = forward_rows(model, rows, pad, keep_kv=False)
    assert torch.allclose(split, whole, atol=1e-4)
    single, _ = forward_rows(model, [Row(None, prompts[2])], pad, keep_kv=False)
    assert torch.allclose(single[0], whole[2], atol=1e-4)


def test_models_whose_cache_cannot_be_split_run_whole(tmp_path: Path, tiny_llama: Path) -> None:
    import torch
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    judge = TransformersJudge(str(tiny_llama), device="cpu")
    assert supports_prefix_reuse(judge.loaded.model)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    config = MistralConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, sliding_window=64,
    )
    MistralForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    windowed = TransformersJudge(str(tmp_path), device="cpu")
    assert not supports_prefix_reuse(windowed.loaded.model) and windowed.prefix_kv is None


def test_prefix_options(tiny_llama: Path) -> None:
    from rankpipe.errors import InputError

    off = make_judge(f"hf:{tiny_llama},device=cpu,prefix_reuse=false")
    on = make_judge(f"hf:{tiny_llama},device=cpu,prefix_cache_mb=8")
    assert isinstance(off, TransformersJudge) and isinstance(on, TransformersJudge)
    assert off.prefix_kv is None and on.prefix_kv is not None
    assert on.prefix_kv.budget_bytes == 8 * 2**20
    assert off.identity == on.identity  # same answers: the cache is shared
    with pytest.raises(InputError, match="prefix_reuse='maybe' is not a valid bool"):
        make_judge(f"hf:{tiny_llama},prefix_reuse=maybe")
    with pytest.raises(InputError, match="prefix_cache_mb='-1' must be at least 0"):
        make_judge(f"hf:{tiny_llama},prefix_cache_mb=-1")


@pytest.mark.slow
def test_smollm2_scores_equal_with_and_without_prefix_reuse(demo: Dataset) -> None:
    prompts = all_pairs(demo, 1, 3)
    plain = TransformersJudge(SMOLLM2, device="cpu", prefix_reuse=False, batch_size=4)
    reusing = TransformersJudge(SMOLLM2, device="cpu", batch_size=4)
    x, y = plain.judge(prompts), reusing.judge(prompts)
    for p, q in zip(x, y, strict=True):
        assert p.p_a == pytest.approx(q.p_a, abs=1e-4)
        assert p.prompt_tokens == q.prompt_tokens and p.valid == q.valid
    assert reusing.stats.computed_tokens < 0.75 * reusing.stats.prompt_tokens


def test_retrieved_fewshot_examples_reach_the_hf_prompt_and_its_identity(
    tiny_llama: Path, demo: Dataset
) -> None:
    """`hf:...,fewshot=demo,shots=1`: each query's prompts carry the example retrieved for it (never
    its own passages), the identity names the training set, and prefix reuse still answers as the
    plain path does."""
    plain = make_judge(f"hf:{tiny_llama},device=cpu")
    spec = f"hf:{tiny_llama},device=cpu,fewshot=demo,shots=1"
    reusing, whole = make_judge(spec), make_judge(spec + ",prefix_reuse=false")
    assert "fewshot=demo#" in reusing.identity and "fewshot" not in plain.identity
    prompts = all_pairs(demo, 2, 3)
    tokenizer = reusing.loaded.tokenizer
    shown = encode_pairs(reusing.template, tokenizer, prompts, fewshot=reusing.fewshot)
    assert shown != encode_pairs(plain.template, tokenizer, prompts)
    example = reusing.fewshot.examples(prompts[0].query)[0]
    assert example.query != prompts[0].query.text
    assert example.query in tokenizer.decode(shown[0])
    assert_close(logprobs(reusing, prompts), logprobs(whole, prompts))
