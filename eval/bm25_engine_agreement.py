"""How close bm25s comes to pyserini's Lucene BM25 (k1 = 0.9, b = 0.4) on the DL19 sub-corpus, step
by step: bm25s out of the box (its own tokenizer and stopwords, no stemming), bm25s on the terms of
rankpipe's copy of Lucene's English analyzer, and rankpipe's bm25s engine (that analyzer plus
Lucene's one-byte document lengths and Anserini's tie order).

Usage: python eval/bm25_engine_agreement.py [--data ../shared/data] [--out eval/out/bm25-agreement]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import bm25s
import numpy as np
from build_dl19_subcorpus import subcorpus
from retrieval_dl19 import engine_agreement

from rankpipe.data.datasets import data_dir
from rankpipe.data.topics import read_topics
from rankpipe.data.types import Query, Ranking, Run
from rankpipe.retrieval import build_bm25_index, open_index
from rankpipe.retrieval.analysis import lucene_english_terms

K = 100


def plain_bm25s(
    corpus: dict[str, str], queries: list[Query], terms: Callable[[list[str]], list[list[str]]]
) -> Run:
    """bm25s as it comes (Lucene's idf and term weight, exact document lengths), ties by docid."""
    docids = np.array(list(corpus))
    model = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    model.index(terms(list(corpus.values())), show_progress=False)
    run: Run = {}
    for query, query_terms in zip(queries, terms([q.text for q in queries]), strict=True):
        ids = model.get_tokens_ids(query_terms)
        scores = model.get_scores_from_ids(ids) if ids else np.zeros(len(docids))
        matching = np.flatnonzero(scores > 0)
        best = matching[np.lexsort((docids[matching], -scores[matching]))][:K]
        run[query.qid] = Ranking(
            query.qid, tuple(docids[best]), tuple(float(s) for s in scores[best])
        )
    return run


def bm25s_tokenizer(texts: list[str]) -> list[list[str]]:
    tokenized = bm25s.tokenize(
        texts, lower=True, stopwords="en", show_progress=False, return_ids=False
    )
    return [list(tokens) for tokens in tokenized]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=data_dir(), help="folder holding dl19/")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "out" / "bm25-agreement"
    )
    args = parser.parse_args()
    corpus = subcorpus(args.data)
    queries = list(read_topics(args.data / "dl19" / "topics.tsv").values())
    build_bm25_index(corpus, args.out / "pyserini", engine="pyserini")
    build_bm25_index(corpus, args.out / "bm25s", engine="bm25s")
    lucene = open_index(args.out / "pyserini").search(queries, K)
    variants = {
        "bm25s out of the box (its tokenizer and stopwords, no stemming)": plain_bm25s(
            corpus, queries, bm25s_tokenizer
        ),
        "bm25s on Lucene's English analyzer terms (exact lengths)": plain_bm25s(
            corpus, queries, lambda texts: [lucene_english_terms(t) for t in texts]
        ),
        "rankpipe bm25s engine (+ Lucene's one-byte lengths, Anserini tie order)": open_index(
            args.out / "bm25s"
        ).search(queries, K),
    }
    report = {name: engine_agreement(run, lucene) for name, run in variants.items()}
    (args.out / "agreement.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(
        "| bm25s variant, against pyserini | identical top-10 | identical top-100 | "
        "mean top-10 overlap | identical scores | largest score difference |"
    )
    print("|---|---|---|---|---|---|")
    for name, values in report.items():
        print(
            f"| {name} | {values['identical_top10']}/{values['queries']} | "
            f"{values['identical_top100']}/{values['queries']} | "
            f"{values['mean_top10_overlap']:.3f} | "
            f"{values['identical_scores']}/{values['queries']} | "
            f"{values['largest_score_difference']:.4f} |"
        )


if __name__ == "__main__":
    main()
