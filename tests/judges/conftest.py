"""Real models for the judge tests, each loaded once per session: SmolLM2-135M-Instruct (the `hf`
judge) and all-MiniLM-L6-v2 (the `embed` judge), both from their packaged offline copies."""

from __future__ import annotations

from typing import Any

import pytest

from rankpipe.judges.embedding import EmbeddingJudge
from rankpipe.judges.transformers import TransformersJudge
from rankpipe.models import resolve_model

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def smollm2() -> TransformersJudge:
    return TransformersJudge(SMOLLM2, device="cpu")


@pytest.fixture(scope="session")
def minilm() -> EmbeddingJudge:
    return EmbeddingJudge(MINILM, device="cpu")


@pytest.fixture(scope="session")
def smollm2_tokenizer() -> Any:
    """SmolLM2's tokenizer alone (it has a chat template), without loading the model."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(SMOLLM2))


@pytest.fixture(scope="session")
def bert_tokenizer() -> Any:
    """A tokenizer without a chat template: MiniLM's BERT WordPiece (30522 tokens)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(MINILM))
