"""Data layer: plain dataclasses and readers/writers for runs, qrels, topics, corpora and
candidates. Names are imported on first use, so importing one module of the package (the CLI
imports `rankpipe.data.types` at start-up) does not load the others."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rankpipe.data.candidates import join_candidates, read_candidates, write_candidates
    from rankpipe.data.corpus import read_corpus, write_corpus
    from rankpipe.data.datasets import Dataset, load_dataset
    from rankpipe.data.topics import read_topics, write_topics
    from rankpipe.data.trec import read_qrels, read_run, write_qrels, write_run
    from rankpipe.data.types import (
        Candidate,
        Qrels,
        Query,
        QueryCandidates,
        Ranking,
        Run,
        run_from_candidates,
    )

_MODULES = {
    "candidates": ("join_candidates", "read_candidates", "write_candidates"),
    "corpus": ("read_corpus", "write_corpus"),
    "datasets": ("Dataset", "load_dataset"),
    "topics": ("read_topics", "write_topics"),
    "trec": ("read_qrels", "read_run", "write_qrels", "write_run"),
    "types": ("Candidate", "Qrels", "Query", "QueryCandidates", "Ranking", "Run",
              "run_from_candidates"),
}  # fmt: skip
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "Candidate", "Dataset", "Qrels", "Query", "QueryCandidates", "Ranking", "Run",
    "join_candidates", "load_dataset", "read_candidates", "read_corpus", "read_qrels", "read_run",
    "read_topics", "run_from_candidates", "write_candidates", "write_corpus", "write_qrels",
    "write_run", "write_topics",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'rankpipe.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rankpipe.data.{_HOME[name]}"), name)
