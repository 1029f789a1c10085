"""`rankpipe index`, `rankpipe retrieve`, `rankpipe fuse`: first-stage retrieval over a corpus."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TypeVar

from rankpipe.atomic import check_writable, same_file
from rankpipe.cli.inputs import (
    check_outputs,
    finite_float,
    non_negative_int,
    positive_int,
    show_progress,
)
from rankpipe.data.corpus import read_corpus
from rankpipe.data.datasets import load_dataset
from rankpipe.data.topics import read_topics
from rankpipe.data.trec import read_qrels, read_run, write_run
from rankpipe.data.types import Qrels, Query, Run
from rankpipe.errors import InputError
from rankpipe.evaluation.metrics import evaluate
from rankpipe.retrieval.bm25 import DEFAULT_B, DEFAULT_K1, ENGINES, build_bm25_index
from rankpipe.retrieval.dense import DEFAULT_MODEL, FAISS_KINDS, build_dense_index
from rankpipe.retrieval.fusion import RRF_K, reciprocal_rank_fusion
from rankpipe.retrieval.index import MANIFEST, IndexManifest
from rankpipe.retrieval.retrievers import open_index

SUMMARY_METRICS = ("nDCG@10", "R(rel=2)@100")
T = TypeVar("T")


def register(commands: argparse._SubParsersAction) -> None:
    _register_index(commands)
    _register_retrieve(commands)
    _register_fuse(commands)


def _register_index(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "index",
        help="index a corpus for first-stage retrieval (BM25 or a dense bi-encoder)",
        description="Index a corpus into a folder. BM25 runs on Lucene through pyserini (Java 21) "
        "or, without Java, on bm25s made to score as Lucene does; dense indexes embed passages "
        "with a bi-encoder into a faiss index. The folder records how it was built; "
        "`rankpipe retrieve` checks it.",
    )
    parser.add_argument(
        "--corpus", required=True, metavar="FILE", help="passages: TSV docid<TAB>text or JSONL"
    )
    parser.add_argument(
        "--kind", choices=("bm25", "dense"), default="bm25", help="index kind (default bm25)"
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="index folder to write (replaced if it is an index)",
    )
    bm25 = parser.add_argument_group("bm25")
    bm25.add_argument(
        "--engine",
        choices=ENGINES,
        help="auto (pyserini when Java runs, else bm25s; the default), pyserini, bm25s",
    )
    bm25.add_argument("--k1", type=finite_float(0.0), help=f"BM25 k1 (default {DEFAULT_K1})")
    bm25.add_argument("--b", type=finite_float(0.0, 1.0), help=f"BM25 b (default {DEFAULT_B})")
    dense = parser.add_argument_group("dense")
    dense.add_argument(
        "--model",
        metavar="SPEC",
        help=f"bi-encoder: hub ID or local folder (default {DEFAULT_MODEL})",
    )
    dense.add_argument(
        "--faiss", choices=FAISS_KINDS, help="faiss index: flat (exact; the default), hnsw, ivf"
    )
    dense.add_argument(
        "--no-normalize",
        action="store_true",
        help="inner product of raw embeddings (default: cosine)",
    )
    dense.add_argument(
        "--batch-size", type=positive_int, help="passages per encoder batch (default 64)"
    )
    dense.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    parser.set_defaults(handler=index_command)


def _register_retrieve(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "retrieve",
        help="retrieve the top k passages of an index for each query; writes a TREC run",
        description="Search an index built by `rankpipe index` for each query and write a TREC "
        "run. With qrels "
        "(--qrels, or a --dataset that has them) it also prints nDCG@10 and R(rel=2)@100.",
    )
    parser.add_argument(
        "--index", required=True, metavar="DIR", help="an index folder from `rankpipe index`"
    )
    queries = parser.add_mutually_exclusive_group(required=True)
    queries.add_argument("--topics", metavar="FILE", help="queries: TSV qid<TAB>text")
    queries.add_argument(
        "--dataset", metavar="NAME", help="the queries (and qrels) of a data set: demo, dl19, ..."
    )
    parser.add_argument(
        "--k", type=positive_int, default=100, help="passages per query (default 100)"
    )
    parser.add_argument("--output", required=True, metavar="RUN", help="the TREC run to write")
    parser.add_argument(
        "--qrels", metavar="FILE", help="relevance labels, to print the run's effectiveness"
    )
    parser.add_argument(
        "--model",
        metavar="SPEC",
        help="dense: the query encoder, when not the recorded one "
        "(another copy of the same model; a different encoder is refused)",
    )
    parser.add_argument("--device", help="dense: cpu, cuda, ... (default: cuda when available)")
    parser.add_argument("--tag", help="run tag (default rankpipe-KIND-ENGINE)")
    parser.set_defaults(handler=retrieve_command)


def _register_fuse(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "fuse",
        help="fuse TREC runs by reciprocal rank fusion",
        description="Reciprocal rank fusion (Cormack et al., 2009): each passage scores the sum "
        "over runs of "
        "1/(k + rank). Ties are broken by docid, descending, as trec_eval does.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="two or more TREC runs")
    parser.add_argument("--output", required=True, metavar="RUN", help="the fused run to write")
    parser.add_argument(
        "--rrf-k",
        type=non_negative_int,
        default=RRF_K,
        help=f"the RRF constant k (default {RRF_K})",
    )
    parser.add_argument(
        "--depth",
        type=positive_int,
        help="use only the top DEPTH passages of each run (default all)",
    )
    parser.add_argument(
        "--top", type=positive_int, default=1000, help="passages per query to write (default 1000)"
    )
    parser.add_argument(
        "--qrels", metavar="FILE", help="relevance labels, to print each run's effectiveness"
    )
    parser.add_argument("--tag", default="rankpipe-rrf", help="run tag (default rankpipe-rrf)")
    parser.set_defaults(handler=fuse_command)


def index_command(args: argparse.Namespace) -> int:
    if args.kind == "bm25":
        _refuse_options(
            args,
            "bm25",
            model="--model",
            faiss="--faiss",
            no_normalize="--no-normalize",
            batch_size="--batch-size",
            device="--device",
        )
    else:
        _refuse_options(args, "dense", engine="--engine", k1="--k1", b="--b")
    check_writable(Path(args.out) / MANIFEST, "--out")
    if _inside(args.corpus, args.out):
        raise InputError(
            f"--out {args.out}: holds the input --corpus {args.corpus}; writing the index there "
            "could destroy it, so give another folder"
        )
    corpus = read_corpus(args.corpus)
    start = time.perf_counter()
    if args.kind == "bm25":
        manifest = build_bm25_index(
            corpus,
            args.out,
            engine=args.engine or "auto",
            k1=_default(args.k1, DEFAULT_K1),
            b=_default(args.b, DEFAULT_B),
            progress=show_progress(),
        )
    else:
        manifest = build_dense_index(
            corpus,
            args.out,
            model=args.model or DEFAULT_MODEL,
            normalize=not args.no_normalize,
            faiss_index=args.faiss or "flat",
            batch_size=_default(args.batch_size, 64),
            device=args.device,
            progress=show_progress(),
        )
    print(
        f"indexed {manifest.passages} passages ({_describe(manifest)}) into {args.out} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def retrieve_command(args: argparse.Namespace) -> int:
    index_files = sorted(Path(args.index).glob("*")) if Path(args.index).is_dir() else []
    check_outputs(
        [(args.output, "--output")],
        inputs=[
            (args.topics, "--topics"),
            (args.qrels, "--qrels"),
            *((path, "--index") for path in index_files),
        ],
    )
    queries, qrels = _queries(args)
    start = time.perf_counter()
    retriever = open_index(args.index, model=args.model, device=args.device)
    opened = time.perf_counter()
    run = retriever.search(queries, args.k)
    searched = time.perf_counter()
    manifest = retriever.manifest
    write_run(run, args.output, tag=args.tag or f"rankpipe-{manifest.kind}-{manifest.engine}")
    print(
        f"retrieved the top {args.k} of {manifest.passages} passages ({_describe(manifest)}) "
        f"for {len(queries)} queries in {searched - opened:.2f} s "
        f"(opening the index {opened - start:.1f} s); wrote {args.output}"
    )
    _print_effectiveness({args.output: run}, qrels)
    return 0


def fuse_command(args: argparse.Namespace) -> int:
    if len(args.runs) < 2:
        raise InputError("give two or more runs to fuse")
    check_outputs(
        [(args.output, "--output")],
        inputs=[(args.qrels, "--qrels"), *((run, "RUN") for run in args.runs)],
    )
    runs = {path: read_run(path) for path in args.runs}
    fused = reciprocal_rank_fusion(
        list(runs.values()), k=args.rrf_k, depth=args.depth, top=args.top
    )
    write_run(fused, args.output, tag=args.tag)
    print(
        f"fused {len(runs)} runs ({len(fused)} queries) by reciprocal rank fusion "
        f"(k={args.rrf_k}); "
        f"wrote {args.output}"
    )
    _print_effectiveness(
        {**runs, args.output: fused}, read_qrels(args.qrels) if args.qrels else None
    )
    return 0


def _queries(args: argparse.Namespace) -> tuple[list[Query], Qrels | None]:
    qrels = read_qrels(args.qrels) if args.qrels else None
    if args.topics:
        return list(read_topics(args.topics).values()), qrels
    dataset = load_dataset(args.dataset)
    return [
        item.query for item in dataset.candidates
    ], qrels if qrels is not None else dataset.qrels


def _refuse_options(args: argparse.Namespace, kind: str, **options: str) -> None:
    given = [flag for name, flag in options.items() if getattr(args, name) not in (None, False)]
    if given:
        raise InputError(f"{', '.join(given)}: not options of a {kind} index")


def _inside(path: str, folder: str) -> bool:
    """Whether `path` lies in `folder` (both resolved), or is it."""
    try:
        return Path(folder).resolve() in Path(path).resolve().parents or same_file(path, folder)
    except (OSError, RuntimeError):
        return False


def _default(value: T | None, default: T) -> T:
    return default if value is None else value


def _describe(manifest: IndexManifest) -> str:
    settings = manifest.settings
    if manifest.kind == "bm25":
        return f"bm25, {manifest.engine}, k1={settings['k1']} b={settings['b']}"
    return f"dense, {settings['model']}, faiss {settings['faiss']}, {settings['similarity']}"


def _print_effectiveness(runs: dict[str, Run], qrels: Qrels | None) -> None:
    if not qrels:
        return
    width = max(len(name) for name in runs)
    print(f"  {'run':<{width}}  " + "  ".join(f"{m:>13}" for m in SUMMARY_METRICS))
    for name, run in runs.items():
        values = evaluate(run, qrels, SUMMARY_METRICS).aggregate
        print(f"  {name:<{width}}  " + "  ".join(f"{values[m]:>13.4f}" for m in SUMMARY_METRICS))
