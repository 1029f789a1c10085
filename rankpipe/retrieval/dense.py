"""Dense first-stage retrieval: a bi-encoder embeds passages and queries (sentence-transformers; a
plain transformers encoder gets mean pooling), and a faiss index finds the passages of highest inner
product (cosine when embeddings are normalized) (Karpukhin et al., 2020, DPR; Reimers & Gurevych,
2019, SBERT).

faiss index types: `flat` (exact, the default), `hnsw` (graph, Malkov & Yashunin, 2018; M = 32) and
`ivf` (inverted lists over k-means cells; nlist about 4 sqrt(N), nprobe = sqrt(nlist), at least 8)
for large corpora.

Queries and passages are embedded by `rankpipe.encoders.Encoder` (the model's query and document
prompts applied), as the `embed` judge embeds them. The index records its encoder (model name,
normalization, dimension) and the embedding of a fixed probe query; at retrieval the query encoder
must reproduce that embedding (cosine >= 0.99), so an index is never searched with another
encoder's queries, even one of the same dimension."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rankpipe.data.types import Query, Ranking, Run
from rankpipe.encoders import Encoder
from rankpipe.errors import InputError
from rankpipe.extras import require
from rankpipe.retrieval.index import (
    IndexManifest,
    corpus_checksum,
    read_docids,
    write_docids,
    write_index,
)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
FAISS_KINDS = ("flat", "hnsw", "ivf")
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128
PROBE = "which vaccine trains the immune system against measles?"
PROBE_AGREEMENT = 0.99
VECTORS = "vectors.faiss"


def build_dense_index(
    corpus: Mapping[str, str],
    out: str | Path,
    model: str = DEFAULT_MODEL,
    normalize: bool = True,
    faiss_index: str = "flat",
    batch_size: int = 64,
    device: str | None = None,
    progress: bool = False,
) -> IndexManifest:
    """Embed `corpus` (docid -> text) with `model` and store a faiss index in the folder `out`."""
    if not corpus:
        raise InputError("the corpus is empty: nothing to index")
    if faiss_index not in FAISS_KINDS:
        raise InputError(
            f"unknown faiss index {faiss_index!r}: expected one of {', '.join(FAISS_KINDS)}"
        )
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    encoder = Encoder(model, device or "auto", batch_size)
    vectors = encoder.encode(list(corpus.values()), "passage", normalize, progress)
    index, search_settings = make_faiss_index(faiss_index, vectors)
    probe = encoder.encode([PROBE], "query", normalize)[0]
    manifest = IndexManifest(
        kind="dense",
        engine="faiss",
        passages=len(corpus),
        corpus_sha256=corpus_checksum(corpus),
        settings={
            "model": model,
            "normalize": normalize,
            "dimension": encoder.dimension,
            "faiss": faiss_index,
            "similarity": "cosine" if normalize else "inner product",
            **search_settings,
            "probe": [round(float(x), 6) for x in probe],
        },
    )

    def build(folder: Path) -> None:
        faiss = require("faiss", "embed", "dense retrieval")

        faiss.write_index(index, str(folder / VECTORS))
        write_docids(folder, corpus)

    return write_index(out, manifest, build)


def open_dense(
    folder: Path, manifest: IndexManifest, model: str | None = None, device: str | None = None
) -> DenseRetriever:
    """The index with its query encoder: the recorded model, or `model` if it embeds alike."""
    settings = manifest.settings
    encoder = Encoder(model or settings["model"], device or "auto")
    check_encoder(encoder, settings, folder)
    return DenseRetriever(folder, manifest, encoder)


def check_encoder(encoder: Encoder, settings: Mapping[str, Any], folder: Path) -> None:
    """Refuse a query encoder other than the one that built the index (InputError)."""
    recorded = f"{settings['model']} ({settings['dimension']} dimensions)"
    built_with = f"the index {folder} was built with {recorded}"
    if encoder.dimension != settings["dimension"]:
        raise InputError(
            f"query encoder {encoder.name} embeds in {encoder.dimension} dimensions, "
            f"but {built_with}"
        )
    probe = encoder.encode([PROBE], "query", bool(settings["normalize"]))[0]
    stored = np.asarray(settings["probe"], dtype=np.float32)
    agreement = float(probe @ stored / (np.linalg.norm(probe) * np.linalg.norm(stored) or 1.0))
    if agreement < PROBE_AGREEMENT:
        raise InputError(
            f"query encoder {encoder.name} does not embed queries as the index's encoder did "
            f"(probe cosine {agreement:.3f} < {PROBE_AGREEMENT}); {built_with}"
        )


class DenseRetriever:
    def __init__(self, folder: Path, manifest: IndexManifest, encoder: Encoder) -> None:
        faiss = require("faiss", "embed", "dense retrieval")

        self.manifest = manifest
        self.encoder = encoder
        try:
            index: Any = faiss.read_index(str(folder / VECTORS))
        except RuntimeError as error:
            raise InputError(
                f"index {folder}: {VECTORS} cannot be read ({error}); rebuild the index"
            ) from None
        settings = manifest.settings
        if index.d != settings["dimension"] or index.ntotal != manifest.passages:
            raise InputError(
                f"index {folder}: {VECTORS} does not match its manifest; rebuild the index"
            )
        if settings["faiss"] == "hnsw":
            index.hnsw.efSearch = int(settings["ef_search"])
        elif settings["faiss"] == "ivf":
            index.nprobe = int(settings["nprobe"])
        self.index = index
        self.docids = read_docids(folder, manifest)

    def search(self, queries: Sequence[Query], k: int) -> Run:
        if not queries:
            return {}
        vectors = self.encoder.encode(
            [q.text for q in queries], "query", bool(self.manifest.settings["normalize"])
        )
        scores, positions = self.index.search(vectors, min(k, len(self.docids)))
        run: Run = {}
        for query, row_scores, row_positions in zip(queries, scores, positions, strict=True):
            found = row_positions >= 0
            run[query.qid] = Ranking(
                query.qid,
                tuple(self.docids[p] for p in row_positions[found]),
                tuple(float(s) for s in row_scores[found]),
            )
        return run


def make_faiss_index(kind: str, vectors: np.ndarray) -> tuple[Any, dict[str, int]]:
    """A faiss inner-product index holding `vectors`, and the search settings to store with it."""
    faiss = require("faiss", "embed", "dense retrieval")

    n, dimension = vectors.shape
    index: Any
    if kind == "flat":
        index = faiss.IndexFlatIP(dimension)
        settings: dict[str, int] = {}
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        settings = {"hnsw_m": HNSW_M, "ef_search": HNSW_EF_SEARCH}
    else:
        nlist = max(1, min(round(4 * math.sqrt(n)), n // 39))
        index = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT
        )
        index.train(vectors)
        settings = {"nlist": nlist, "nprobe": min(nlist, max(8, round(math.sqrt(nlist))))}
    index.add(vectors)
    return index, settings
