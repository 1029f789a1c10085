"""First-stage retrieval on TREC DL19 over the 7,230-passage sub-corpus (the union of the shared
BM25 and Contriever top-100 passages; see build_dl19_subcorpus.py): BM25 with pyserini and with
bm25s, dense all-MiniLM-L6-v2 with faiss (flat; HNSW and IVF from the same vectors), and reciprocal
rank fusion; nDCG@10, R(rel=2)@100, index and retrieval times, and how closely the two BM25 engines
agree.

A sub-corpus figure: every passage here was retrieved for some DL19 query by a full-corpus system,
so the numbers are not comparable to retrieval over the 8.8M-passage MS MARCO corpus (the
full-corpus BM25 and Contriever top-100 runs are evaluated alongside for reference).

Usage: python eval/retrieval_dl19.py [--data ../shared/data] [--out eval/out/retrieval]
Writes the indexes, the runs and results.json under --out, and prints a Markdown report."""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
from build_dl19_subcorpus import subcorpus

from rankpipe.data.datasets import data_dir, load_dataset
from rankpipe.data.topics import read_topics
from rankpipe.data.trec import read_qrels, write_run
from rankpipe.data.types import Qrels, Ranking, Run, run_from_candidates
from rankpipe.evaluation.metrics import evaluate
from rankpipe.retrieval import (
    build_bm25_index,
    build_dense_index,
    lucene,
    open_index,
    reciprocal_rank_fusion,
)
from rankpipe.retrieval.dense import make_faiss_index

METRICS = ("nDCG@10", "R(rel=2)@100")
K = 100


def timed(step: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = step()
    return result, time.perf_counter() - start


def engine_agreement(a: Run, b: Run) -> dict[str, float]:
    """How closely two runs of the same queries agree: identical top-10 and top-100 rankings,
    mean top-10 overlap, identical scores, largest score difference on shared passages."""
    qids = list(a)
    largest = 0.0
    for qid in qids:
        scores_b = dict(zip(b[qid].docids, b[qid].scores, strict=True))
        for docid, score in zip(a[qid].docids, a[qid].scores, strict=True):
            if docid in scores_b:
                largest = max(largest, abs(score - scores_b[docid]))
    return {
        "queries": len(qids),
        "identical_top10": sum(a[q].docids[:10] == b[q].docids[:10] for q in qids),
        "identical_top100": sum(a[q].docids == b[q].docids for q in qids),
        "mean_top10_overlap": float(
            np.mean([len(set(a[q].docids[:10]) & set(b[q].docids[:10])) / 10 for q in qids])
        ),
        "identical_scores": sum(a[q].scores == b[q].scores for q in qids),
        "largest_score_difference": largest,
    }


def overlap_at(run: Run, reference: Run, depth: int) -> float:
    """Mean fraction of the reference's top `depth` that `run` also returns in its top `depth`."""
    return float(
        np.mean(
            [
                len(set(run[q].docids[:depth]) & set(reference[q].docids[:depth]))
                / max(1, len(reference[q].docids[:depth]))
                for q in reference
            ]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=data_dir(), help="folder holding dl19/")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "out" / "retrieval"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = subcorpus(args.data)
    queries = list(read_topics(args.data / "dl19" / "topics.tsv").values())
    qrels: Qrels = read_qrels(args.data / "dl19" / "qrels.txt")
    systems: dict[str, dict[str, object]] = {}
    runs: dict[str, Run] = {}

    _, systems_start = timed(lucene.pyserini_lucene)
    builds = {
        "BM25 (pyserini)": ("bm25-pyserini", lambda out: build_bm25_index(corpus, out, "pyserini")),
        "BM25 (bm25s)": ("bm25-bm25s", lambda out: build_bm25_index(corpus, out, "bm25s")),
        "dense MiniLM-L6 (faiss flat)": ("minilm-flat", lambda out: build_dense_index(corpus, out)),
    }
    for name, (folder_name, build) in builds.items():
        folder = args.out / "indexes" / folder_name
        _, index_s = timed(lambda build=build, folder=folder: build(folder))
        retriever, open_s = timed(lambda folder=folder: open_index(folder))
        run, search_s = timed(lambda retriever=retriever: retriever.search(queries, K))
        runs[name] = run
        systems[name] = {"index_s": index_s, "open_s": open_s, "retrieve_s": search_s}

    runs["RRF: BM25 (pyserini) + dense"] = reciprocal_rank_fusion(
        [runs["BM25 (pyserini)"], runs["dense MiniLM-L6 (faiss flat)"]], top=K
    )
    systems["RRF: BM25 (pyserini) + dense"] = {}

    dense = open_index(args.out / "indexes" / "minilm-flat")
    vectors = dense.index.reconstruct_n(0, dense.index.ntotal)
    query_vectors = dense.encoder.encode([q.text for q in queries], "query", normalize=True)
    flat = runs["dense MiniLM-L6 (faiss flat)"]
    for kind in ("hnsw", "ivf"):
        (index, settings), build_s = timed(lambda kind=kind: make_faiss_index(kind, vectors))
        if kind == "hnsw":
            index.hnsw.efSearch = settings["ef_search"]
        else:
            index.nprobe = settings["nprobe"]
        (scores, positions), search_s = timed(lambda index=index: index.search(query_vectors, K))
        run = {
            q.qid: Ranking(
                q.qid,
                tuple(dense.docids[p] for p in row if p >= 0),
                tuple(float(s) for s, p in zip(srow, row, strict=True) if p >= 0),
            )
            for q, srow, row in zip(queries, scores, positions, strict=True)
        }
        name = f"dense MiniLM-L6 (faiss {kind}, {settings})"
        runs[name] = run
        systems[name] = {
            "faiss_build_s": build_s,
            "faiss_search_s": search_s,
            "overlap_with_flat@10": overlap_at(run, flat, 10),
            "overlap_with_flat@100": overlap_at(run, flat, K),
        }

    for name, source in (
        ("full-corpus BM25 top-100 (shared file)", "dl19"),
        ("full-corpus Contriever top-100 (shared file)", "dl19/contriever"),
    ):
        runs[name] = run_from_candidates(load_dataset(source).candidates)
        systems[name] = {}

    for name, run in runs.items():
        systems[name].update(evaluate(run, qrels, METRICS).aggregate)
        slug = re.sub(r"[^a-z0-9]+", "-", name.split(" {")[0].lower()).strip("-")
        write_run(run, args.out / f"{slug}.trec", tag=slug[:40])
    agreement = engine_agreement(runs["BM25 (pyserini)"], runs["BM25 (bm25s)"])
    report = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, CPU only",
        "passages": len(corpus),
        "queries": len(queries),
        "pyserini_start_s": systems_start,
        "systems": systems,
        "bm25_engine_agreement": agreement,
    }
    (args.out / "results.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print_report(report)


def print_report(report: dict) -> None:
    print(
        f"DL19, {report['queries']} queries, {report['passages']}-passage sub-corpus, "
        f"{report['date']}, {report['machine']}"
    )
    print(f"pyserini start (JVM + imports): {report['pyserini_start_s']:.1f} s\n")
    print("| system | nDCG@10 | R(rel=2)@100 | index (s) | open (s) | retrieve 43 queries (s) |")
    print("|---|---|---|---|---|---|")
    for name, values in report["systems"].items():
        times = [values.get(key) for key in ("index_s", "open_s", "retrieve_s")]
        cells = [f"{t:.1f}" if t is not None else "" for t in times]
        print(
            f"| {name} | {values['nDCG@10']:.4f} | {values['R(rel=2)@100']:.4f} | "
            + " | ".join(cells)
            + " |"
        )
    print()
    for name, values in report["systems"].items():
        if "faiss_build_s" in values:
            print(
                f"{name}: build {values['faiss_build_s']:.2f} s, "
                f"search {values['faiss_search_s']:.3f} s, "
                f"overlap with flat @10 {values['overlap_with_flat@10']:.3f}, "
                f"@100 {values['overlap_with_flat@100']:.3f}"
            )
    print(f"\nBM25 engines (pyserini vs bm25s): {json.dumps(report['bm25_engine_agreement'])}")


if __name__ == "__main__":
    main()
