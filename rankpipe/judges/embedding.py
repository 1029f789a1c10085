"""The `embed` judge: a bi-encoder (sentence-transformers) that compares cosine similarities.

    embed:MODEL[,temperature=0.05,device=auto,batch_size=64]

Pairwise: P(A more relevant than B) = sigmoid((cos(q, A) - cos(q, B)) / temperature), so swapping
the passages gives exactly 1 - P. Listwise: the block sorted by cosine, best first (ties keep their
shown order). Every text is encoded once per process (an embedding cache shared by all judges of the
same model). Token usage is what the encoder reads for the texts of a prompt (query and passages,
cut to the model's maximum length), whether or not they were cached; no tokens are generated."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from rankpipe.data.types import Qrels
from rankpipe.errors import InputError, JudgeError
from rankpipe.judges.answers import sigmoid
from rankpipe.judges.base import BlockJudgment, BlockPrompt, Judgment, PairPrompt
from rankpipe.judges.spec import JudgeSpec, check_options, float_option, int_option
from rankpipe.models import resolve_device, resolve_model

EXAMPLE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CACHED_TEXTS = 200_000
"""Texts whose embeddings an encoder keeps (the oldest go first): about 300 MB at 384 dimensions."""


@dataclass
class Encoder:
    """A sentence-transformers model with its embeddings cached per text."""

    model: Any
    cache: dict[str, tuple[Any, int]] = field(default_factory=dict)

    def embed(self, texts: Sequence[str], batch_size: int) -> list[tuple[Any, int]]:
        """(unit-length vector, tokens read) for each text; new texts are encoded in batches."""
        new = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if new:
            vectors = self.model.encode(
                new, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            )
            read = self.model.tokenizer(new, truncation=True, max_length=self.model.max_seq_length)
            for text, vector, ids in zip(new, vectors, read["input_ids"], strict=True):
                self.cache[text] = (vector, len(ids))
        embedded = [self.cache[t] for t in texts]
        excess = len(self.cache) - CACHED_TEXTS
        for stale in list(islice(self.cache, max(excess, 0))):
            del self.cache[stale]
        return embedded


@functools.cache
def load_encoder(path: str, device: str) -> Encoder:
    """Load a sentence-transformers model once per process for (path, device)."""
    from sentence_transformers import SentenceTransformer

    try:
        return Encoder(SentenceTransformer(path, device=device))
    except (OSError, ValueError) as error:
        raise JudgeError(f"embedding model {path} could not be loaded: {error}") from error


class EmbeddingJudge:
    """Pairwise and listwise answers from query-passage cosine similarity."""

    reads_text = True

    def __init__(
        self, model: str, *, temperature: float = 0.05, device: str = "auto", batch_size: int = 64
    ) -> None:
        if not temperature > 0:
            raise InputError(f"embed judge: temperature must be positive, got {temperature}")
        if batch_size < 1:
            raise InputError(f"embed judge: batch_size must be at least 1, got {batch_size}")
        self.temperature, self.batch_size = temperature, batch_size
        self.encoder = load_encoder(resolve_model(model), resolve_device(device))
        self.identity = f"embed:{model},temperature={temperature}"

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        texts = [t for p in prompts for t in (p.query.text, p.a.text, p.b.text)]
        embedded = self.encoder.embed(texts, self.batch_size)
        answers = []
        for i in range(len(prompts)):
            (q, q_len), (a, a_len), (b, b_len) = embedded[3 * i : 3 * i + 3]
            margin = (float(q @ a) - float(q @ b)) / self.temperature
            answers.append(Judgment(p_a=sigmoid(margin), prompt_tokens=q_len + a_len + b_len))
        return answers

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]:
        answers = []
        for prompt in prompts:
            texts = [prompt.query.text, *(c.text for c in prompt.passages)]
            embedded = self.encoder.embed(texts, self.batch_size)
            (q, q_len), passages = embedded[0], embedded[1:]
            scores = [float(q @ vector) for vector, _ in passages]
            order = sorted(range(len(scores)), key=lambda i: -scores[i])
            answers.append(
                BlockJudgment(tuple(order), prompt_tokens=q_len + sum(n for _, n in passages))
            )
        return answers


def _build(spec: JudgeSpec, qrels: Qrels | None) -> EmbeddingJudge:
    check_options(spec, {"temperature", "device", "batch_size"})
    if not spec.target:
        raise InputError(f"judge {spec}: embed needs a model, e.g. embed:{EXAMPLE_MODEL}")
    return EmbeddingJudge(
        spec.target,
        temperature=float_option(spec, "temperature", 0.05),
        device=spec.options.get("device", "auto"),
        batch_size=int_option(spec, "batch_size", 64),
    )


pairwise_judge = _build
list_judge = _build
