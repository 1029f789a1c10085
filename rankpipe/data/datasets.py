"""Named data sets: the packaged demo collection, local data under $RANKPIPE_DATA, and ir_datasets
IDs.

| name | what |
|---|---|
| `demo` | 10 queries x 20 passages written for rankpipe, BM25 top-20, graded qrels (shipped) |
| `dl19` | TREC DL 2019 passage, BM25 top-100 with texts (`$RANKPIPE_DATA/dl19/bm25_top100.jsonl`) |
| `dl19/contriever` | the same queries, Contriever top-100 |
| `noveleval` | NovelEval-2306: 21 queries x 20 fully judged passages, in search-result order |
| ir_datasets ID | e.g. `msmarco-passage/trec-dl-2019/judged`: scoreddocs with docs and queries |

ir_datasets IDs need network access.

`$RANKPIPE_DATA` defaults to `shared/data` beside the repository that holds this package
(`../shared/data` seen from the clone's root, whatever the working directory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rankpipe.data.candidates import join_candidates, read_candidates
from rankpipe.data.corpus import read_corpus
from rankpipe.data.topics import read_topics
from rankpipe.data.trec import read_qrels, read_run
from rankpipe.data.types import Candidate, Qrels, Query, QueryCandidates
from rankpipe.errors import InputError

DEMO_DIR = Path(__file__).parent / "demo"
LOCAL_DATASETS = {
    "dl19": ("dl19/bm25_top100.jsonl", "dl19/qrels.txt"),
    "dl19/bm25": ("dl19/bm25_top100.jsonl", "dl19/qrels.txt"),
    "dl19/contriever": ("dl19/contriever_top100.jsonl", "dl19/qrels.txt"),
}


@dataclass(frozen=True)
class Dataset:
    name: str
    candidates: list[QueryCandidates]
    qrels: Qrels | None


def data_dir() -> Path:
    """Where local data sets live: $RANKPIPE_DATA, else shared/data beside the repository."""
    beside = Path(__file__).resolve().parents[3] / "shared" / "data"
    return Path(os.environ.get("RANKPIPE_DATA", beside))


def load_dataset(name: str, depth: int | None = None) -> Dataset:
    """Load a named data set's candidates (top `depth` per query) and qrels."""
    if name == "demo":
        run = read_run(DEMO_DIR / "run.bm25.trec")
        items = join_candidates(
            run, read_corpus(DEMO_DIR / "corpus.tsv"), read_topics(DEMO_DIR / "topics.tsv"), depth
        )
        return Dataset(name, items, read_qrels(DEMO_DIR / "qrels.trec"))
    if name in LOCAL_DATASETS:
        candidates_file, qrels_file = (data_dir() / p for p in LOCAL_DATASETS[name])
        _require_local(name, candidates_file)
        items = [qc.truncated(depth) if depth else qc for qc in read_candidates(candidates_file)]
        return Dataset(name, items, read_qrels(qrels_file))
    if name == "noveleval":
        return _noveleval(depth)
    if "/" in name:
        return _ir_datasets(name, depth)
    known = ", ".join(["demo", *LOCAL_DATASETS, "noveleval"])
    raise InputError(f"unknown dataset {name!r}: expected one of {known}, or an ir_datasets ID")


def _require_local(name: str, path: Path) -> None:
    if not path.is_file():
        raise InputError(
            f"dataset {name}: {path} not found; "
            f"set RANKPIPE_DATA to the folder holding {name.split('/')[0]}/"
        )


def _noveleval(depth: int | None) -> Dataset:
    folder = data_dir() / "noveleval"
    _require_local("noveleval", folder / "corpus.tsv")
    corpus = read_corpus(folder / "corpus.tsv")
    topics = read_topics(folder / "queries.tsv")
    items = []
    for qid, query in topics.items():
        docids = [d for d in corpus if d.split("-")[0] == qid][:depth]
        n = len(docids)
        candidates = tuple(
            Candidate(d, corpus[d], float(n - i), i + 1) for i, d in enumerate(docids)
        )
        items.append(QueryCandidates(query, candidates))
    return Dataset("noveleval", items, read_qrels(folder / "qrels.txt"))


def _ir_datasets(name: str, depth: int | None) -> Dataset:
    """An ir_datasets data set with scoreddocs (a first-stage run), docs and queries."""
    try:
        import ir_datasets
    except ImportError:
        raise InputError(
            f"dataset {name}: install ir_datasets (pip install 'rankpipe[irdatasets]')"
        ) from None
    try:
        dataset = ir_datasets.load(name)
    except KeyError:
        raise InputError(
            f"unknown dataset {name!r}: not a local name nor an ir_datasets ID"
        ) from None
    if not dataset.has_scoreddocs():
        raise InputError(
            f"dataset {name}: ir_datasets offers no first-stage run (scoreddocs) for it"
        )
    try:
        queries = {q.query_id: q.text for q in dataset.queries_iter()}
        scored: dict[str, list[tuple[float, str]]] = {}
        for sd in dataset.scoreddocs_iter():
            scored.setdefault(sd.query_id, []).append((sd.score, sd.doc_id))
        store = dataset.docs_store()
        qrels: Qrels = {}
        for qrel in dataset.qrels_iter():
            qrels.setdefault(qrel.query_id, {})[qrel.doc_id] = qrel.relevance
        items = []
        for qid, hits in scored.items():
            hits.sort(key=lambda h: -h[0])
            hits = hits[:depth] if depth else hits
            docs = store.get_many([d for _, d in hits])
            candidates = tuple(
                Candidate(d, docs[d].text, s, r)
                for r, (s, d) in enumerate(hits, start=1)
                if d in docs
            )
            items.append(QueryCandidates(Query(qid, queries[qid]), candidates))
    except Exception as error:  # ir_datasets raises bare exceptions when downloads fail
        raise InputError(
            f"dataset {name}: ir_datasets could not load it ({error}); it needs network access"
        ) from None
    return Dataset(name, items, qrels or None)
