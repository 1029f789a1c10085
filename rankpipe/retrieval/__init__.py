"""First-stage retrieval over a corpus: BM25 (pyserini/Lucene, or bm25s when Java is unavailable),
dense bi-encoders with faiss, and reciprocal rank fusion. Indexes are folders with a manifest that
is checked when they are opened (rankpipe.retrieval.index, rankpipe.retrieval.retrievers).

    build_bm25_index(corpus, "idx/bm25")     # engine="auto": pyserini when Java runs, else bm25s
    build_dense_index(corpus, "idx/minilm")  # model="sentence-transformers/all-MiniLM-L6-v2"
    run = open_index("idx/bm25").search(queries, k=100)
    fused = reciprocal_rank_fusion([run_a, run_b])
"""

from rankpipe.retrieval.bm25 import build_bm25_index
from rankpipe.retrieval.dense import build_dense_index
from rankpipe.retrieval.fusion import reciprocal_rank_fusion
from rankpipe.retrieval.index import IndexManifest, Retriever, read_manifest
from rankpipe.retrieval.retrievers import open_index

__all__ = [
    "IndexManifest",
    "Retriever",
    "build_bm25_index",
    "build_dense_index",
    "open_index",
    "read_manifest",
    "reciprocal_rank_fusion",
]
