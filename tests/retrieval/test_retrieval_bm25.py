"""BM25 on the demo collection: the bm25s engine against BM25 by hand, and against pyserini."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rankpipe.data.corpus import read_corpus
from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.topics import read_topics
from rankpipe.data.types import Query
from rankpipe.errors import InputError
from rankpipe.retrieval import build_bm25_index, lucene, open_index, read_manifest
from rankpipe.retrieval.analysis import lucene_english_terms
from rankpipe.retrieval.bm25 import anserini_scores, lucene_length, resolve_engine

CORPUS = read_corpus(DEMO_DIR / "corpus.tsv")
QUERIES = list(read_topics(DEMO_DIR / "topics.tsv").values())


def needs_pyserini() -> None:
    reason = lucene.unavailable_reason()
    if reason:
        pytest.skip(f"pyserini/Java unavailable: {reason}")


@pytest.fixture(scope="module")
def bm25s_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bm25") / "bm25s"
    build_bm25_index(CORPUS, folder, engine="bm25s")
    return folder


def lucene_bm25_by_hand(query: str, k1: float = 0.9, b: float = 0.4) -> dict[str, float]:
    """BM25 as Lucene scores it, term by term in plain Python: idf = ln(1 + (N - df + 0.5) /
    (df + 0.5)), tf / (tf + k1 (1 - b + b L / avgdl)) with L Lucene's one-byte length."""
    documents = {docid: Counter(lucene_english_terms(text)) for docid, text in CORPUS.items()}
    lengths = {docid: sum(terms.values()) for docid, terms in documents.items()}
    avgdl = sum(lengths.values()) / len(lengths)
    scores: dict[str, float] = {}
    for term in lucene_english_terms(query):
        df = sum(term in terms for terms in documents.values())
        idf = math.log(1 + (len(documents) - df + 0.5) / (df + 0.5))
        for docid, terms in documents.items():
            if term in terms:
                length = int(lucene_length(np.array([lengths[docid]]))[0])
                norm = k1 * (1 - b + b * length / avgdl)
                scores[docid] = scores.get(docid, 0.0) + idf * terms[term] / (terms[term] + norm)
    return scores


def test_lucene_length_keeps_four_significant_bits_above_24() -> None:
    lengths = np.array([0, 1, 23, 24, 31, 32, 39, 40, 60, 61, 100, 1000])
    # 24 + (n - 24) rounded down to its 4 leading bits: 100 -> 24 + 72, 1000 -> 24 + 960
    assert lucene_length(lengths).tolist() == [0, 1, 23, 24, 31, 32, 39, 40, 60, 60, 96, 984]


def test_anserini_scores_round_and_separate_ties() -> None:
    scores = np.array([3.439316, 2.087432, 2.087432, 2.08743, 1.602508], dtype=np.float32)
    expected = [3.4393, 2.0874, 2.0874 - 1e-6, 2.0874 - 2e-6, 1.6025]
    assert anserini_scores(scores) == pytest.approx(expected, abs=3e-7)


def test_bm25s_engine_scores_as_lucene_bm25(bm25s_index: Path) -> None:
    run = open_index(bm25s_index).search(QUERIES, k=20)
    for query in QUERIES:
        expected = lucene_bm25_by_hand(query.text)
        best = sorted(expected.items(), key=lambda item: (-item[1], item[0]))[:20]
        ranking = run[query.qid]
        assert ranking.docids == tuple(docid for docid, _ in best)
        assert ranking.scores == pytest.approx([score for _, score in best], abs=2e-4)


def test_bm25s_index_records_how_it_was_built(bm25s_index: Path) -> None:
    manifest = read_manifest(bm25s_index)
    assert (manifest.kind, manifest.engine, manifest.passages) == ("bm25", "bm25s", 200)
    assert manifest.settings == {"k1": 0.9, "b": 0.4, "analyzer": "lucene-english-porter"}


def test_queries_without_known_terms_retrieve_nothing(bm25s_index: Path) -> None:
    run = open_index(bm25s_index).search([Query("q1", "the of and"), Query("q2", "zzyzx")], k=10)
    assert len(run["q1"]) == 0 and len(run["q2"]) == 0


def test_pyserini_and_bm25s_agree_on_the_demo_collection(bm25s_index: Path, tmp_path: Path) -> None:
    needs_pyserini()
    build_bm25_index(CORPUS, tmp_path / "lucene", engine="pyserini")
    lucene_run = open_index(tmp_path / "lucene").search(QUERIES, k=20)
    bm25s_run = open_index(bm25s_index).search(QUERIES, k=20)
    for query in QUERIES:
        assert bm25s_run[query.qid].docids == lucene_run[query.qid].docids
        assert bm25s_run[query.qid].scores == pytest.approx(lucene_run[query.qid].scores, abs=2e-6)


def test_auto_engine_falls_back_to_bm25s_without_java(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lucene, "unavailable_reason", lambda: "no Java runtime found")
    assert resolve_engine("auto") == "bm25s"
    with pytest.raises(InputError, match="pyserini engine is unavailable: no Java runtime found"):
        resolve_engine("pyserini")
    with pytest.raises(InputError, match="unknown BM25 engine"):
        resolve_engine("lucene")


def test_a_lucene_index_without_java_is_refused_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs_pyserini()
    build_bm25_index(CORPUS, tmp_path / "lucene", engine="pyserini")
    monkeypatch.setattr(lucene, "unavailable_reason", lambda: "no Java runtime found")
    with pytest.raises(
        InputError, match="built with pyserini.*no Java runtime found.*--engine bm25s"
    ):
        open_index(tmp_path / "lucene")
