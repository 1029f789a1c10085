"""Opening a stored index as the retriever of its kind (BM25 or dense); above both engines, which
build on `rankpipe.retrieval.index` alone."""

from __future__ import annotations

from pathlib import Path

from rankpipe.errors import InputError
from rankpipe.retrieval.bm25 import open_bm25
from rankpipe.retrieval.dense import open_dense
from rankpipe.retrieval.index import Retriever, read_manifest


def open_index(
    folder: str | Path, model: str | None = None, device: str | None = None
) -> Retriever:
    """Open a stored index for retrieval, checking its files first.

    `model` (dense indexes only) names the query encoder when it is not the one recorded in the
    index (another copy of the same model); an encoder that embeds differently is refused."""
    manifest = read_manifest(folder)
    if manifest.kind == "bm25":
        if model is not None:
            raise InputError(
                f"index {folder} is a BM25 index: a query encoder (--model) does not apply"
            )
        return open_bm25(Path(folder), manifest)
    return open_dense(Path(folder), manifest, model=model, device=device)
