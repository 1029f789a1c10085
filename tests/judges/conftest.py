"""Real models for the judge tests, each loaded once per session: SmolLM2-135M-Instruct (the `hf`
judge) and all-MiniLM-L6-v2 (the `embed` judge), both from their packaged offline copies; and
tiny randomly initialised Llamas (2 layers) with SmolLM2's tokenizer and with a plain-text one,
saved once per session, for the prefix-reuse tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
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


def _tiny_llama(folder: Path, tokenizer: Any) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id or 0,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread (the tiny-model tests use it): on a shared 2-core CPU a second one
    spin-waits and runs these tiny models a hundred times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with SmolLM2's tokenizer (chat template, byte-level BPE)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(SMOLLM2))
    return _tiny_llama(tmp_path_factory.mktemp("tiny-llama"), tokenizer)


@pytest.fixture(scope="session")
def tiny_llama_plain_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with MiniLM's WordPiece tokenizer (no chat template, [CLS] ... [SEP])."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(MINILM))
    return _tiny_llama(tmp_path_factory.mktemp("tiny-llama-wordpiece"), tokenizer)
