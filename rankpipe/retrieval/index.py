"""A stored first-stage index: a folder with the engine's files and `rankpipe-index.json`, its
manifest (kind, engine, settings, the checksum of the corpus it was built from, and the size and
SHA-256 of every file). Opening an index checks every file against the manifest, so a truncated,
edited or half-copied index is refused (InputError, exit 2) instead of returning wrong results.

An index is written into a temporary folder beside its destination and renamed into place when
complete: an interrupted build leaves no half-written index behind."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from rankpipe import __version__
from rankpipe.data.types import Query, Run
from rankpipe.errors import InputError

MANIFEST = "rankpipe-index.json"
DOCIDS = "docids.txt"
FORMAT = 1
KINDS = ("bm25", "dense")


@dataclass(frozen=True)
class IndexManifest:
    kind: str
    """bm25 or dense."""
    engine: str
    """pyserini or bm25s (bm25); faiss (dense)."""
    passages: int
    corpus_sha256: str
    """`corpus_checksum` of the corpus the index was built from."""
    settings: dict[str, Any]
    """The engine's settings (k1 and b; model, normalization, dimension, faiss index type...)."""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Relative path -> {"bytes": size, "sha256": digest}, for every file of the index."""
    created: str = ""
    rankpipe_version: str = __version__
    format: int = FORMAT


class Retriever(Protocol):
    """An opened index: retrieves the top k passages of the corpus for each query."""

    manifest: IndexManifest

    def search(self, queries: Sequence[Query], k: int) -> Run:
        """qid -> Ranking (best first, at most k passages, fewer when fewer match), in query
        order."""
        ...


def corpus_checksum(corpus: Mapping[str, str]) -> str:
    """SHA-256 over the passages in order (docid, tab, text, newline; runs of whitespace as one
    space)."""
    digest = hashlib.sha256()
    for docid, text in corpus.items():
        digest.update(f"{docid}\t{' '.join(text.split())}\n".encode())
    return digest.hexdigest()


def write_index(
    out: str | Path, manifest: IndexManifest, build: Callable[[Path], None]
) -> IndexManifest:
    """Run `build(folder)` on an empty temporary folder, record its files in the manifest, and move
    the folder to `out`, replacing an index already there. A folder at `out` that is not a rankpipe
    index (holding other files) is refused rather than overwritten."""
    out = Path(out)
    if out.exists() and not (out / MANIFEST).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(
            f"{out} exists and is not a rankpipe index; choose an empty or new --out folder"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".building"))
    try:
        build(staging)
        files = {
            path.relative_to(staging).as_posix(): _file_entry(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        manifest = IndexManifest(
            **{
                **asdict(manifest),
                "files": files,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        )
        (staging / MANIFEST).write_text(
            json.dumps(asdict(manifest), indent=1) + "\n", encoding="utf-8"
        )
        if out.exists():
            retired = out.with_name(f".{out.name}.{os.getpid()}.replaced")
            out.rename(retired)
            staging.rename(out)
            shutil.rmtree(retired)
        else:
            staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest


def read_manifest(folder: str | Path, verify_files: bool = True) -> IndexManifest:
    """The index's manifest, after checking that every file it lists is there, unchanged.
    Raises InputError naming the folder and the problem."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        what = "no such folder" if not folder.exists() else f"not a rankpipe index (no {MANIFEST})"
        raise InputError(f"index {folder}: {what}; build one with `rankpipe index`")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != FORMAT:
            raise InputError(
                f"index {folder}: format {record.get('format')!r} is not the one this rankpipe "
                f"reads ({FORMAT}); rebuild it with `rankpipe index`"
            )
        manifest = IndexManifest(**record)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, AttributeError) as error:
        raise InputError(
            f"index {folder}: {MANIFEST} is corrupted ({error}); rebuild the index"
        ) from None
    if manifest.kind not in KINDS or not manifest.files:
        raise InputError(
            f"index {folder}: {MANIFEST} is corrupted "
            f"(kind {manifest.kind!r}, {len(manifest.files)} files)"
        )
    if verify_files:
        for name, entry in manifest.files.items():
            _verify(folder, name, entry)
    return manifest


def write_docids(folder: Path, docids: Iterable[str]) -> None:
    """The passages' docids, one a line, in the order the engine numbers them."""
    (folder / DOCIDS).write_text("".join(f"{docid}\n" for docid in docids), encoding="utf-8")


def read_docids(folder: Path, manifest: IndexManifest) -> list[str]:
    docids = (folder / DOCIDS).read_text(encoding="utf-8").split("\n")[:-1]
    if len(docids) != manifest.passages:
        raise InputError(f"index {folder}: {len(docids)} docids for {manifest.passages} passages")
    return docids


def _file_entry(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(folder: Path, name: str, entry: Mapping[str, Any]) -> None:
    path = folder / name
    if not path.is_file():
        raise InputError(f"index {folder}: {name} is missing; the index is incomplete, rebuild it")
    if path.stat().st_size != entry.get("bytes") or _sha256(path) != entry.get("sha256"):
        raise InputError(
            f"index {folder}: {name} does not match its checksum; the index is corrupted, "
            "rebuild it"
        )
