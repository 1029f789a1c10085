"""One bi-encoder wrapper for the dense retriever and the embed judge: a model's query and document
prompts apply in both, and change the judge's identity."""

from __future__ import annotations

import numpy as np
import pytest

from rankpipe.data.datasets import Dataset
from rankpipe.encoders import Encoder, load_encoder
from rankpipe.judges.base import PairPrompt
from rankpipe.judges.spec import make_judge

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
PROMPTS = {"query": "query: ", "document": "passage: "}


@pytest.fixture(scope="module")
def prompted(tmp_path_factory: pytest.TempPathFactory) -> str:
    """MiniLM saved with e5-style prompts."""
    model = load_encoder(MINILM, "cpu").model
    folder = tmp_path_factory.mktemp("prompted") / "minilm-e5-prompts"
    saved = dict(model.prompts)
    model.prompts = dict(PROMPTS)
    try:
        model.save(str(folder))
    finally:
        model.prompts = saved
    return str(folder)


@pytest.mark.slow
def test_prompts_apply_alike_in_the_judge_and_the_retriever(prompted: str, demo: Dataset) -> None:
    item = demo.candidates[0]
    a, b = item.candidates[0], item.candidates[5]
    retriever_side = Encoder(prompted, "cpu")
    assert retriever_side.prompt("query") == "query: "
    assert retriever_side.prompt("passage") == "passage: "
    q = retriever_side.encode([item.query.text], "query")[0]
    pa, pb = retriever_side.encode([a.text, b.text], "passage")
    judge = make_judge(f"embed:{prompted},device=cpu,temperature=1")
    (judgment,) = judge.judge([PairPrompt(item.query, a, b)])
    assert judgment.p_a == pytest.approx(1 / (1 + np.exp(-(q @ pa - q @ pb))), abs=1e-6)
    tokenizer = retriever_side.model.tokenizer
    expected = sum(
        len(tokenizer(text)["input_ids"])
        for text in (f"query: {item.query.text}", f"passage: {a.text}", f"passage: {b.text}")
    )
    assert judgment.prompt_tokens == expected
    plain = Encoder(MINILM, "cpu")
    assert not np.allclose(plain.encode([item.query.text], "query")[0], q, atol=1e-3)


@pytest.mark.slow
def test_prompts_are_part_of_the_judges_identity(prompted: str) -> None:
    assert make_judge(f"embed:{MINILM}").identity == f"embed:{MINILM},temperature=0.05"
    identity = make_judge(f"embed:{prompted}").identity
    assert identity.endswith(",temperature=0.05,query_prompt=query,passage_prompt=document")

