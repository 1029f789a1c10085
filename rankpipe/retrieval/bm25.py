"""BM25 first-stage retrieval (Robertson & Zaragoza, 2009) with two engines behind one interface:

- `pyserini`: Lucene through pyserini/Anserini (Lin et al., SIGIR 2021), Java 21 in-process (see
  rankpipe.retrieval.lucene). The reference implementation.
- `bm25s`: pure Python (Lù, 2024), the light fallback when Java is unavailable. It is made to score
  as Lucene does: the same analyzer (rankpipe.retrieval.analysis), Lucene's idf and term weight in
  float32, and Lucene's one-byte document lengths (`lucene_length`); ties are broken and scores
  rounded as Anserini does (`anserini_scores`). On the DL19 sub-corpus and the demo collection both
  engines return the same rankings (eval/results/retrieval.md).

Defaults k1 = 0.9, b = 0.4, as in pyserini's MS MARCO passage runs. `auto` picks pyserini when it is
installed and its Java runs, else bm25s."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from itertools import chain
from pathlib import Path

import bm25s
import numpy as np
import scipy.sparse
from tqdm.auto import tqdm

from rankpipe.data.types import Query, Ranking, Run
from rankpipe.errors import InputError
from rankpipe.retrieval import lucene
from rankpipe.retrieval.analysis import lucene_english_terms
from rankpipe.retrieval.index import (
    IndexManifest,
    corpus_checksum,
    read_docids,
    write_docids,
    write_index,
)

log = logging.getLogger(__name__)
# bm25s sets its logger to DEBUG on import; let it follow the application's level
logging.getLogger("bm25s").setLevel(logging.NOTSET)

ENGINES = ("auto", "pyserini", "bm25s")
DEFAULT_K1 = 0.9
DEFAULT_B = 0.4
ANALYZER = "lucene-english-porter"
LUCENE_FOLDER = "lucene"
BM25S_FOLDER = "bm25s"
INDEXING_BATCH = 10_000


def resolve_engine(engine: str) -> str:
    """`auto` -> pyserini when it is installed and its Java runs, else bm25s; others are checked."""
    if engine not in ENGINES:
        raise InputError(f"unknown BM25 engine {engine!r}: expected one of {', '.join(ENGINES)}")
    reason = lucene.unavailable_reason() if engine in ("auto", "pyserini") else None
    if engine == "auto":
        if reason is not None:
            log.info("BM25 with bm25s: %s", reason)
        return "bm25s" if reason else "pyserini"
    if engine == "pyserini" and reason is not None:
        raise InputError(f"the pyserini engine is unavailable: {reason}; or use --engine bm25s")
    return engine


def build_bm25_index(
    corpus: Mapping[str, str],
    out: str | Path,
    engine: str = "auto",
    k1: float = DEFAULT_K1,
    b: float = DEFAULT_B,
    progress: bool = False,
) -> IndexManifest:
    """Index `corpus` (docid -> text) for BM25 into the folder `out`; returns its manifest."""
    if not corpus:
        raise InputError("the corpus is empty: nothing to index")
    if k1 < 0 or not 0 <= b <= 1:
        raise InputError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
    engine = resolve_engine(engine)
    manifest = IndexManifest(
        kind="bm25",
        engine=engine,
        passages=len(corpus),
        corpus_sha256=corpus_checksum(corpus),
        settings={"k1": k1, "b": b, "analyzer": ANALYZER},
    )
    if engine == "pyserini":
        return write_index(
            out, manifest, lambda folder: _build_lucene(corpus, folder / LUCENE_FOLDER, progress)
        )
    return write_index(out, manifest, lambda folder: _build_bm25s(corpus, folder, k1, b, progress))


def open_bm25(folder: Path, manifest: IndexManifest) -> PyseriniSearcher | Bm25sSearcher:
    if manifest.engine == "pyserini":
        reason = lucene.unavailable_reason()
        if reason is not None:
            raise InputError(
                f"index {folder} was built with pyserini (Lucene), which searching it needs, "
                f"but {reason}; or rebuild it with `rankpipe index --engine bm25s`"
            )
        return PyseriniSearcher(folder, manifest)
    if manifest.engine == "bm25s":
        return Bm25sSearcher(folder, manifest)
    raise InputError(f"index {folder}: unknown BM25 engine {manifest.engine!r} in its manifest")


class PyseriniSearcher:
    """Searches a Lucene index with pyserini's LuceneSearcher (BM25 with the index's k1 and b)."""

    def __init__(self, folder: Path, manifest: IndexManifest) -> None:
        _, search_lucene = lucene.pyserini_lucene()
        self.manifest = manifest
        self.searcher = search_lucene.LuceneSearcher(str(folder / LUCENE_FOLDER))
        self.searcher.set_bm25(float(manifest.settings["k1"]), float(manifest.settings["b"]))

    def search(self, queries: Sequence[Query], k: int) -> Run:
        hits = self.searcher.batch_search(
            [q.text for q in queries], [q.qid for q in queries], k=k, threads=os.cpu_count() or 1
        )
        return {
            q.qid: Ranking(
                q.qid,
                tuple(h.docid for h in hits[q.qid]),
                tuple(float(h.score) for h in hits[q.qid]),
            )
            for q in queries
        }


class Bm25sSearcher:
    """Searches a bm25s index: Lucene's analyzer on the query, the top k by score (ties by docid),
    scores as Anserini writes them."""

    def __init__(self, folder: Path, manifest: IndexManifest) -> None:
        self.manifest = manifest
        self.model = bm25s.BM25.load(str(folder / BM25S_FOLDER), mmap=True, show_progress=False)
        self.docids = np.array(read_docids(folder, manifest), dtype=object)
        self.docid_order = np.empty(len(self.docids), dtype=np.int64)
        self.docid_order[np.argsort(self.docids.astype(str))] = np.arange(len(self.docids))

    def search(self, queries: Sequence[Query], k: int) -> Run:
        run: Run = {}
        for query in queries:
            term_ids = self.model.get_tokens_ids(lucene_english_terms(query.text))
            if not term_ids:
                run[query.qid] = Ranking(query.qid, ())
                continue
            scores = self.model.get_scores_from_ids(term_ids)
            top = _top_k(scores, k, self.docid_order)
            run[query.qid] = Ranking(
                query.qid, tuple(self.docids[top]), tuple(anserini_scores(scores[top]))
            )
        return run


def _top_k(scores: np.ndarray, k: int, docid_order: np.ndarray) -> np.ndarray:
    """Positions of the (at most) k best matching passages by score, ties by docid (as Anserini)."""
    matching = np.flatnonzero(scores > 0)
    if len(matching) > k:
        kth_best = np.partition(scores[matching], len(matching) - k)[len(matching) - k]
        matching = matching[scores[matching] >= kth_best]
    return matching[np.lexsort((docid_order[matching], -scores[matching]))][:k]


def anserini_scores(scores: np.ndarray) -> list[float]:
    """Scores of a ranked list as Anserini's ScoreTiesAdjusterReranker writes them: rounded to 1e-4,
    and lowered by 1e-6 per tie so that the scores alone give the rank order (whatever way an
    evaluation tool breaks ties)."""
    f32 = np.float32
    adjusted = (np.floor(scores.astype(f32) * f32(1e4) + f32(0.5)) / f32(1e4)).astype(f32)
    ties = 0
    for i in range(1, len(adjusted)):
        if adjusted[i - 1] - adjusted[i] > f32(1e-4):
            ties = 0
        else:
            ties += 1
            adjusted[i] -= f32(1e-6) * f32(ties)
    return [float(s) for s in adjusted]


def lucene_length(lengths: np.ndarray) -> np.ndarray:
    """Document lengths as Lucene's BM25 sees them: it stores a length in one byte
    (SmallFloat.intToByte4), exact below 24, above that 24 plus the excess cut to 4 leading bits."""
    lengths = np.asarray(lengths, dtype=np.int64)
    excess = np.maximum(lengths - 24, 0)
    shift = np.maximum(np.frexp(excess.astype(np.float64))[1] - 4, 0)
    return np.where(lengths < 24, lengths, 24 + ((excess >> shift) << shift))


def lucene_bm25_weights(
    counts: scipy.sparse.csc_matrix, lengths: np.ndarray, k1: float, b: float
) -> np.ndarray:
    """The weight of each stored (passage, term) count, as Lucene's BM25Similarity computes it in
    float32: idf - idf / (1 + tf / (k1 (1 - b + b L / avgdl))), idf = ln(1 + (N - df + 0.5) /
    (df + 0.5)), L the one-byte length, avgdl the exact mean length."""
    f32 = np.float32
    n_docs = len(lengths)
    df = np.diff(counts.indptr)
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(f32)
    avgdl = f32(lengths.sum() / n_docs)
    length_norm = (f32(1) - f32(b)) + f32(b) * lucene_length(lengths).astype(f32) / avgdl
    norm_inverse = f32(1) / (f32(k1) * length_norm)
    term_idf = np.repeat(idf, df)
    return term_idf - term_idf / (f32(1) + counts.data.astype(f32) * norm_inverse[counts.indices])


class LuceneScoredBM25(bm25s.BM25):
    """bm25s whose per-term weights are `lucene_bm25_weights` (through the hook bm25s documents)."""

    def build_index_from_ids(  # type: ignore[no-untyped-def]
        self, unique_token_ids, corpus_token_ids, show_progress=True, leave_progress=False
    ):
        lengths = np.array([len(ids) for ids in corpus_token_ids], dtype=np.int64)
        rows = np.repeat(np.arange(len(lengths)), lengths)
        cols = np.fromiter(chain.from_iterable(corpus_token_ids), np.int64, int(lengths.sum()))
        counts = scipy.sparse.csc_matrix(
            (np.ones(len(cols), dtype=np.float32), (rows, cols)),
            shape=(len(lengths), len(unique_token_ids)),
        )
        counts.sum_duplicates()
        self.nonoccurrence_array = None  # only BM25L and BM25+ have one
        return {
            "data": lucene_bm25_weights(counts, lengths, self.k1, self.b),
            "indices": counts.indices.astype(self.int_dtype),
            "indptr": counts.indptr,
            "num_docs": len(lengths),
        }


def _build_bm25s(
    corpus: Mapping[str, str], folder: Path, k1: float, b: float, progress: bool
) -> None:
    terms = [
        lucene_english_terms(text)
        for text in tqdm(corpus.values(), desc="analyze", disable=not progress, unit="passage")
    ]
    model = LuceneScoredBM25(k1=k1, b=b, method="lucene")
    model.index(terms, create_empty_token=False, show_progress=progress)
    model.save(str(folder / BM25S_FOLDER), show_progress=False)
    write_docids(folder, corpus)


def _build_lucene(corpus: Mapping[str, str], folder: Path, progress: bool) -> None:
    index_lucene, _ = lucene.pyserini_lucene()
    indexer = index_lucene.LuceneIndexer(str(folder), threads=min(8, os.cpu_count() or 1))
    docids = list(corpus)
    with tqdm(total=len(docids), desc="index", disable=not progress, unit="passage") as bar:
        for start in range(0, len(docids), INDEXING_BATCH):
            batch = docids[start : start + INDEXING_BATCH]
            indexer.add_batch_dict([{"id": docid, "contents": corpus[docid]} for docid in batch])
            bar.update(len(batch))
    indexer.close()
