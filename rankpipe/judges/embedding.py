"""The `embed` judge: a bi-encoder (sentence-transformers) that compares cosine similarities.

    embed:MODEL[,temperature=0.05,device=auto,batch_size=64]

Pairwise: P(A more relevant than B) = sigmoid((cos(q, A) - cos(q, B)) / temperature), so swapping
the passages gives exactly 1 - P. Listwise: the block sorted by cosine, best first (ties keep their
shown order). Queries and passages are embedded as the dense retriever embeds them
(`rankpipe.encoders`: the model's query and document prompts, when it has them, which the identity
then names). Every text is encoded once per process (an embedding cache shared by all judges of the
same model). Token usage is what the encoder reads for the texts of a prompt (query and passages,
prompts included, cut to the model's maximum length), whether or not they were cached; no tokens
are generated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from rankpipe.data.types import Qrels
from rankpipe.encoders import Encoder, Role, load_encoder
from rankpipe.errors import InputError
from rankpipe.judges.answers import sigmoid
from rankpipe.judges.base import BlockJudgment, BlockPrompt, Judgment, PairPrompt
from rankpipe.judges.options import EmbedOptions
from rankpipe.judges.spec import JudgeSpec, judge_options
from rankpipe.models import free_memory, weights_fingerprint
from rankpipe.options import canonical

EXAMPLE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CACHED_TEXTS = 200_000
"""Texts whose embeddings an encoder keeps (the oldest go first): about 300 MB at 384 dimensions."""


@dataclass
class CachedEncoder:
    """An Encoder with its embeddings kept per (role, text)."""

    encoder: Encoder
    cache: dict[tuple[str, str], tuple[Any, int]] = field(default_factory=dict)

    @property
    def model(self) -> Any:
        """The sentence-transformers model."""
        return self.encoder.model

    def embed(self, texts: Sequence[str], role: Role, batch_size: int) -> list[tuple[Any, int]]:
        """(unit-length vector, tokens read) for each text; new texts are encoded in batches."""
        new = list(dict.fromkeys(t for t in texts if (role, t) not in self.cache))
        if new:
            vectors = self.encoder.encode(new, role, batch_size=batch_size)
            for text, vector, read in zip(
                new, vectors, self.encoder.tokens(new, role), strict=True
            ):
                self.cache[role, text] = (vector, read)
        embedded = [self.cache[role, t] for t in texts]
        excess = len(self.cache) - CACHED_TEXTS
        for stale in list(islice(self.cache, max(excess, 0))):
            del self.cache[stale]
        return embedded


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
        self.encoder = CachedEncoder(load_encoder(model, device))
        prompts = self.encoder.encoder.prompt_names
        # the model's query/document prompts change its answers: they are part of the identity
        applied = "".join(f",{role}_prompt={name}" for role, name in prompts.items() if name)
        # a local folder's weights can change under the same path (a retrained student)
        local = Path(model).expanduser()
        weights = f",{weights_fingerprint(local)}" if local.exists() else ""
        options = canonical(EmbedOptions(temperature=temperature))
        self.identity = f"embed:{model}{weights},{options}{applied}"

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        queries = self.encoder.embed([p.query.text for p in prompts], "query", self.batch_size)
        passages = self.encoder.embed(
            [t for p in prompts for t in (p.a.text, p.b.text)], "passage", self.batch_size
        )
        answers = []
        for i, (q, q_len) in enumerate(queries):
            (a, a_len), (b, b_len) = passages[2 * i : 2 * i + 2]
            margin = (float(q @ a) - float(q @ b)) / self.temperature
            answers.append(Judgment(p_a=sigmoid(margin), prompt_tokens=q_len + a_len + b_len))
        return answers

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]:
        answers = []
        for prompt in prompts:
            ((q, q_len),) = self.encoder.embed([prompt.query.text], "query", self.batch_size)
            passages = self.encoder.embed(
                [c.text for c in prompt.passages], "passage", self.batch_size
            )
            scores = [float(q @ vector) for vector, _ in passages]
            order = sorted(range(len(scores)), key=lambda i: -scores[i])
            answers.append(
                BlockJudgment(tuple(order), prompt_tokens=q_len + sum(n for _, n in passages))
            )
        return answers

    def close(self) -> None:
        """Free the encoder (this judge's own; nothing else holds it)."""
        self.encoder = None  # type: ignore[assignment]
        free_memory()


def _build(spec: JudgeSpec, qrels: Qrels | None) -> EmbeddingJudge:
    options: EmbedOptions = judge_options(spec)
    if not spec.target:
        raise InputError(f"judge {spec}: embed needs a model, e.g. embed:{EXAMPLE_MODEL}")
    return EmbeddingJudge(spec.target, **asdict(options))


pairwise_judge = _build
list_judge = _build
