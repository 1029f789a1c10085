"""Data layer: plain dataclasses and readers/writers for runs, qrels, topics, corpora and
candidates."""

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

__all__ = [
    "Candidate", "Dataset", "Qrels", "Query", "QueryCandidates", "Ranking", "Run",
    "join_candidates", "load_dataset", "read_candidates", "read_corpus", "read_qrels", "read_run",
    "read_topics", "run_from_candidates", "write_candidates", "write_corpus", "write_qrels",
    "write_run", "write_topics",
]
