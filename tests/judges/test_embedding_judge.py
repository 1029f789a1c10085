"""The `embed` judge with the real all-MiniLM-L6-v2 (loaded once per session, offline copy)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from judge_helpers import AskBlock, CountingJudge

from rankpipe.data.datasets import Dataset
from rankpipe.errors import InputError
from rankpipe.executor import Executor
from rankpipe.judges import embedding
from rankpipe.judges.base import BlockPrompt, PairPrompt
from rankpipe.judges.embedding import EmbeddingJudge
from rankpipe.judges.spec import make_judge, make_list_judge

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def best_and_offtopic(demo: Dataset) -> PairPrompt:
    """Query d1's most relevant passage against a passage retrieved for another query."""
    item, other = demo.candidates[0], demo.candidates[4]
    grades = demo.qrels[item.query.qid]
    best = max(item.candidates, key=lambda c: grades.get(c.docid, 0))
    offtopic = next(c for c in other.candidates if c.docid not in grades)
    return PairPrompt(item.query, best, offtopic)


def test_spec_works_offline_exactly_as_written(minilm: EmbeddingJudge) -> None:
    judge = make_judge(f"embed:{MINILM}")
    assert isinstance(judge, EmbeddingJudge)
    assert judge.identity == f"embed:{MINILM},temperature=0.05"
    assert make_judge(f"embed:{MINILM},batch_size=8,device=cpu").identity == judge.identity
    judge.close()


def test_prefers_the_relevant_passage(minilm: EmbeddingJudge, demo: Dataset) -> None:
    prompt = best_and_offtopic(demo)
    (judgment,) = minilm.judge([prompt])
    assert judgment.p_a > 0.9 and judgment.valid
    (swapped,) = minilm.judge([PairPrompt(prompt.query, prompt.b, prompt.a)])
    assert swapped.p_a < 0.1


def test_swapping_the_passages_gives_one_minus_p(minilm: EmbeddingJudge, demo: Dataset) -> None:
    item = demo.candidates[2]
    forward = [PairPrompt(item.query, item.candidates[i], item.candidates[i + 1]) for i in range(6)]
    backward = [PairPrompt(p.query, p.b, p.a) for p in forward]
    answers = minilm.judge(forward + backward)
    for ab, ba in zip(answers[:6], answers[6:], strict=True):
        assert ab.p_a == pytest.approx(1.0 - ba.p_a, abs=1e-12)
    assert len({round(a.p_a, 6) for a in answers}) > 2  # not a constant


def test_temperature_scales_the_margin(minilm: EmbeddingJudge, demo: Dataset) -> None:
    prompt = best_and_offtopic(demo)
    sharp = minilm.judge([prompt])[0].p_a
    soft = make_judge(f"embed:{MINILM},temperature=0.5").judge([prompt])[0].p_a
    margin = 0.05 * math.log(sharp / (1 - sharp))  # cos(q, A) - cos(q, B)
    assert soft == pytest.approx(1 / (1 + math.exp(-margin / 0.5)), abs=1e-9)
    assert 0.5 < soft < sharp


def test_token_counts_are_what_the_encoder_reads(minilm: EmbeddingJudge, demo: Dataset) -> None:
    prompt = best_and_offtopic(demo)
    (judgment,) = minilm.judge([prompt])
    tokenizer = minilm.encoder.model.tokenizer
    texts = (prompt.query.text, prompt.a.text, prompt.b.text)
    expected = sum(len(tokenizer(t)["input_ids"]) for t in texts)
    assert judgment.prompt_tokens == expected and judgment.completion_tokens == 0


def test_each_text_is_encoded_once(
    minilm: EmbeddingJudge, demo: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []
    encode = minilm.encoder.model.encode

    def counting_encode(texts: list[str], **options: object) -> object:
        encoded.extend(texts)
        return encode(texts, **options)

    monkeypatch.setattr(minilm.encoder.model, "encode", counting_encode)
    item = demo.candidates[3]
    fresh = [replace(c, text=f"{c.text} (seen first here)") for c in item.candidates[:5]]
    prompts = [PairPrompt(item.query, fresh[0], c) for c in fresh[1:]]
    minilm.judge(prompts)
    again = make_judge(f"embed:{MINILM},temperature=0.1")  # another judge, the same encoder
    again.judge(prompts)
    again.rank([BlockPrompt(item.query, tuple(fresh))])
    assert sorted(t for t in encoded if t != item.query.text) == sorted(c.text for c in fresh)


def test_listwise_sorts_by_cosine(minilm: EmbeddingJudge, demo: Dataset) -> None:
    item = demo.candidates[5]
    block = BlockPrompt(item.query, item.candidates[:6])
    (judgment,) = make_list_judge(f"embed:{MINILM}").rank([block])
    assert sorted(judgment.order) == list(range(6)) and judgment.repairs == 0
    ranked = [block.passages[i] for i in judgment.order]
    pairs = [PairPrompt(item.query, a, b) for a, b in zip(ranked, ranked[1:], strict=False)]
    assert all(j.p_a >= 0.5 for j in minilm.judge(pairs))  # each passage beats the next
    judge = CountingJudge(minilm)
    results = Executor(judge).run([item], AskBlock(6), top_k=6)
    run, ledger = results.run, results.ledger
    assert run[item.query.qid].docids[:6] == tuple(p.docid for p in ranked)
    assert ledger.total()["prompt_tokens"] == judgment.prompt_tokens


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("embed:", "embed needs a model"),
        (f"embed:{MINILM},temperature=0", "temperature must be positive"),
        (f"embed:{MINILM},batch_size=0", "batch_size must be at least 1"),
        (f"embed:{MINILM},prompt=prp", r"unknown option\(s\) prompt"),
    ],
)
def test_bad_specs_are_input_errors(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_judge(spec)


def test_the_text_cache_is_bounded(
    minilm: EmbeddingJudge, demo: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedding, "CACHED_TEXTS", 4)
    item = demo.candidates[7]
    prompts = [PairPrompt(item.query, item.candidates[0], c) for c in item.candidates[1:6]]
    first = minilm.judge(prompts)  # seven texts
    assert len(minilm.encoder.cache) == 4
    again = minilm.judge(prompts)  # evicted texts are encoded anew
    for x, y in zip(first, again, strict=True):
        assert x.p_a == pytest.approx(y.p_a, abs=1e-5) and x.prompt_tokens == y.prompt_tokens


def test_each_judge_owns_its_encoder_and_close_frees_it(minilm: EmbeddingJudge) -> None:
    import weakref

    other = EmbeddingJudge(MINILM, device="cpu")
    assert other.encoder is not minilm.encoder  # no process-wide copy
    model = weakref.ref(other.encoder.encoder.model)
    other.close()
    assert other.encoder is None and model() is None  # nothing else held the model


def test_a_reranker_closes_the_judge_it_loaded_and_not_one_it_was_given(
    minilm: EmbeddingJudge, demo: Dataset
) -> None:
    from rankpipe.reranker import Reranker

    with Reranker(f"embed:{MINILM},device=cpu", "heapsort", 3, cache=None) as reranker:
        reranker.rerank(demo.candidates[:1])
        loaded = reranker.judge
    assert loaded.encoder is None
    with Reranker(minilm, "heapsort", 3, cache=None) as reranker:
        reranker.rerank(demo.candidates[:1])
    assert minilm.encoder is not None
