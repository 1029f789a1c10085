"""Bi-encoders (sentence-transformers), shared by the dense retriever and the `embed` judge: texts
to float32 vectors as queries or as passages, with the model's own query and document prompts
applied when it defines them (e5- and bge-style models), so that a model embeds alike as a
retriever and as a judge.

The prompt for a role is the first of the model's non-empty prompts whose name fits it: `query`
for queries; `document`, `passage`, `corpus` for passages (sentence-transformers' `encode_query` and
`encode_document` choose the same way; they need sentence-transformers 5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from rankpipe.errors import InputError
from rankpipe.extras import require
from rankpipe.models import resolve_device, resolve_model

Role = Literal["query", "passage"]
PROMPT_NAMES: dict[str, tuple[str, ...]] = {
    "query": ("query",),
    "passage": ("document", "passage", "corpus"),
}


class Encoder:
    """A sentence-transformers model that embeds queries and passages."""

    def __init__(self, model: str, device: str = "auto", batch_size: int = 64) -> None:
        feature = f"the bi-encoder {model}"
        SentenceTransformer = require("sentence_transformers", "embed", feature).SentenceTransformer

        if batch_size < 1:
            raise InputError(f"encoder {model}: batch_size must be at least 1, got {batch_size}")
        self.name, self.batch_size = model, batch_size
        path = resolve_model(model)
        try:
            self.model = SentenceTransformer(path, device=resolve_device(device))
        except (OSError, ValueError) as error:
            raise InputError(f"model {model}: cannot load it as an encoder ({error})") from None
        # renamed get_embedding_dimension in sentence-transformers 6
        dimension = getattr(
            self.model, "get_embedding_dimension", self.model.get_sentence_embedding_dimension
        )()
        if dimension is None:
            raise InputError(
                f"model {model}: its embedding dimension is unknown; is it an encoder?"
            )
        self.dimension = int(dimension)
        prompts = self.model.prompts or {}
        self.prompt_names: dict[str, str | None] = {
            role: next((name for name in names if prompts.get(name)), None)
            for role, names in PROMPT_NAMES.items()
        }

    def prompt(self, role: Role) -> str:
        """The text put before every `role` text ("" for models without prompts)."""
        name = self.prompt_names[role]
        return str(self.model.prompts[name]) if name else ""

    def encode(
        self,
        texts: Sequence[str],
        role: Role,
        normalize: bool = True,
        progress: bool = False,
        batch_size: int | None = None,
    ) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            prompt_name=self.prompt_names[role],
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=normalize,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def tokens(self, texts: Sequence[str], role: Role) -> list[int]:
        """Tokens the model reads for each text, its prompt included, cut to its maximum length."""
        prompt = self.prompt(role)
        read = self.model.tokenizer(
            [prompt + t for t in texts], truncation=True, max_length=self.model.max_seq_length
        )
        return [len(ids) for ids in read["input_ids"]]


def load_encoder(model: str, device: str = "auto") -> Encoder:
    """An Encoder of `model` on the device `device` resolves to, owned by the caller (no process-
    wide copy: it is freed when the caller drops it)."""
    require("sentence_transformers", "embed", f"the bi-encoder {model}")
    return Encoder(model, resolve_device(device))
