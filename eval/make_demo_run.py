"""Build the first-stage BM25 run for the rankpipe demo collection.

Indexes every passage of ``rankpipe/data/demo/corpus.tsv`` with bm25s
(k1=0.9, b=0.4, lowercase, English stopwords removed, no stemming), retrieves
the top 20 passages for each query in ``topics.tsv``, and writes a TREC run
(``qid Q0 docid rank score bm25s``).

Usage: python eval/make_demo_run.py [--out PATH] [--k 20]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import bm25s

DEMO_DIR = Path(__file__).resolve().parent.parent / "rankpipe" / "data" / "demo"


def read_tsv(path: Path) -> list[tuple[str, str]]:
    """Read ``id<TAB>text`` lines into (id, text) pairs."""
    with path.open(encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t", 1)) for line in f if line.strip()]  # type: ignore[misc]


def bm25_run(
    corpus: list[tuple[str, str]], topics: list[tuple[str, str]], k: int = 20
) -> list[str]:
    """Return TREC run lines: top ``k`` passages per topic, best first."""
    doc_ids = [d for d, _ in corpus]
    retriever = bm25s.BM25(k1=0.9, b=0.4)
    retriever.index(
        bm25s.tokenize([t for _, t in corpus], lower=True, stopwords="en", show_progress=False),
        show_progress=False,
    )
    lines: list[str] = []
    for qid, query in topics:
        q_tokens = bm25s.tokenize([query], lower=True, stopwords="en", show_progress=False)
        results, scores = retriever.retrieve(q_tokens, k=k, show_progress=False)
        for rank, (idx, score) in enumerate(zip(results[0], scores[0], strict=True), start=1):
            lines.append(f"{qid} Q0 {doc_ids[int(idx)]} {rank} {float(score):.4f} bm25s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEMO_DIR / "run.bm25.trec")
    parser.add_argument("--k", type=int, default=20, help="passages per query")
    args = parser.parse_args()
    lines = bm25_run(read_tsv(DEMO_DIR / "corpus.tsv"), read_tsv(DEMO_DIR / "topics.tsv"), args.k)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} lines to {args.out}")


if __name__ == "__main__":
    main()
