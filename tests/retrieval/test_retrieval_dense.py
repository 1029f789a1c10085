"""Dense retrieval with the real all-MiniLM-L6-v2 (packaged offline copy) on the demo collection:
exact cosine search, the faiss index types, and the refusal of a query encoder that is not the one
the index was built with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rankpipe.cli.main import main
from rankpipe.data.corpus import read_corpus
from rankpipe.data.datasets import DEMO_DIR
from rankpipe.data.topics import read_topics
from rankpipe.data.trec import read_qrels, read_run
from rankpipe.errors import InputError
from rankpipe.evaluation.metrics import evaluate
from rankpipe.models import resolve_model
from rankpipe.retrieval import build_dense_index, open_index, read_manifest
from rankpipe.retrieval.dense import DEFAULT_MODEL, DenseRetriever, make_faiss_index

pytestmark = (
    pytest.mark.slow
)  # about 30 s on a quiet 2-core CPU: MiniLM embeds and loads a few times

CORPUS = read_corpus(DEMO_DIR / "corpus.tsv")
QUERIES = list(read_topics(DEMO_DIR / "topics.tsv").values())


@pytest.fixture(scope="module")
def dense_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dense") / "minilm"
    corpus = str(DEMO_DIR / "corpus.tsv")
    assert main(["index", "--corpus", corpus, "--kind", "dense", "--out", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def retriever(dense_index: Path) -> DenseRetriever:
    return open_index(dense_index)


def random_encoder(folder: Path, hidden_size: int | None = None) -> str:
    """A MiniLM-shaped BERT encoder with random weights (or another width): a real encoder, not the
    one the index was built with."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    source = resolve_model(DEFAULT_MODEL)
    config = AutoConfig.from_pretrained(source)
    if hidden_size is not None:
        config.hidden_size, config.intermediate_size, config.num_hidden_layers = hidden_size, 256, 1
        config.num_attention_heads = 4
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return str(folder)


def test_dense_index_records_its_encoder(dense_index: Path) -> None:
    manifest = read_manifest(dense_index)
    settings = manifest.settings
    assert (manifest.kind, manifest.engine, manifest.passages) == ("dense", "faiss", 200)
    assert settings["model"] == DEFAULT_MODEL and settings["dimension"] == 384
    assert (settings["faiss"], settings["normalize"], settings["similarity"]) == (
        "flat",
        True,
        "cosine",
    )
    assert len(settings["probe"]) == 384


def test_retrieval_is_exact_cosine_search_over_the_passage_embeddings(
    retriever: DenseRetriever,
) -> None:
    run = retriever.search(QUERIES, k=10)
    stored = retriever.index.reconstruct_n(0, retriever.index.ntotal)
    docids = list(CORPUS)
    sample = [0, 57, 199]  # stored vectors are the passages' embeddings, in corpus order
    fresh = retriever.encoder.encode([CORPUS[docids[i]] for i in sample], "passage", normalize=True)
    assert np.allclose(stored[sample], fresh, atol=1e-5)
    queries = retriever.encoder.encode([q.text for q in QUERIES], "query", normalize=True)
    for query, vector in zip(QUERIES, queries, strict=True):
        similarities = stored @ vector
        best = np.argsort(-similarities, kind="stable")[:10]
        assert run[query.qid].docids == tuple(docids[i] for i in best)
        assert run[query.qid].scores == pytest.approx(similarities[best].tolist(), abs=1e-5)


def test_minilm_ranks_the_demo_collection_well(dense_index: Path, tmp_path: Path) -> None:
    out = tmp_path / "dense.trec"
    args = ["retrieve", "--index", str(dense_index), "--dataset", "demo", "--k", "20", "--output"]
    assert main([*args, str(out)]) == 0
    # measured 0.906 (BM25: 0.755); a query encoder mismatch or a docid mix-up falls far below
    assert evaluate(read_run(out), read_qrels(DEMO_DIR / "qrels.trec")).aggregate["nDCG@10"] > 0.8


def test_hnsw_index_is_stored_and_searched(tmp_path: Path) -> None:
    corpus = dict(list(CORPUS.items())[:40])
    build_dense_index(corpus, tmp_path / "hnsw", faiss_index="hnsw")
    hnsw = open_index(tmp_path / "hnsw")
    assert hnsw.index.hnsw.efSearch == read_manifest(tmp_path / "hnsw").settings["ef_search"]
    run = hnsw.search(QUERIES[:2], k=5)
    stored = hnsw.index.reconstruct_n(0, 40)
    queries = hnsw.encoder.encode([q.text for q in QUERIES[:2]], "query", normalize=True)
    for query, vector in zip(QUERIES[:2], queries, strict=True):
        best = np.argsort(-(stored @ vector))[:5]
        assert run[query.qid].docids == tuple(list(corpus)[i] for i in best)


def test_ivf_index_finds_the_exact_neighbours(retriever: DenseRetriever) -> None:
    vectors = retriever.index.reconstruct_n(0, retriever.index.ntotal)
    index, settings = make_faiss_index("ivf", vectors)
    assert settings == {"nlist": 5, "nprobe": 5}  # 200 passages: 5 cells, all probed
    index.nprobe = settings["nprobe"]
    queries = retriever.encoder.encode([q.text for q in QUERIES], "query", normalize=True)
    _, found = index.search(queries, 10)
    _, exact = retriever.index.search(queries, 10)
    assert (found == exact).all()


def test_another_encoder_of_the_same_shape_is_refused(
    dense_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = random_encoder(tmp_path / "random-minilm")
    out = tmp_path / "run.trec"
    args = ["retrieve", "--index", str(dense_index), "--dataset", "demo", "--output", str(out)]
    assert main([*args, "--model", other]) == 2
    assert "does not embed queries as the index's encoder did" in capsys.readouterr().err
    assert not out.exists()


def test_an_encoder_of_another_dimension_is_refused(dense_index: Path, tmp_path: Path) -> None:
    other = random_encoder(tmp_path / "random-128", hidden_size=128)
    with pytest.raises(
        InputError, match=r"embeds in 128 dimensions, but the index .* \(384 dimensions\)"
    ):
        open_index(dense_index, model=other)


def test_another_copy_of_the_same_encoder_is_accepted(dense_index: Path) -> None:
    copy = open_index(dense_index, model=resolve_model(DEFAULT_MODEL))
    assert len(copy.search(QUERIES[:1], k=3)[QUERIES[0].qid]) == 3
