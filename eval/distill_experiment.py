"""Pairwise distillation on TREC DL19: query-level 5-fold cross-validation (train on four folds'
queries, evaluate on the fifth), teachers `sim` at noise 0 and 0.2 and `embed` (self-distillation,
a control), ablation pointwise-only / pairwise-only / both; the student (all-MiniLM-L6-v2) before
and after, as a reranker of the BM25 top-100 of the held-out queries (nDCG@10 by cosine) and, for
the configurations named by --retrieve, as a retriever over the 7,230-passage DL19 sub-corpus
(build_dl19_subcorpus.py; faiss flat through `build_dense_index` and `open_index`, the code behind
`rankpipe index` / `retrieve`); mining inferences and training time. (The transfer to NovelEval
is the README's `rankpipe distill` run, see eval/results/distill.md.)

Usage: python eval/distill_experiment.py [--out eval/out/distill] [--configs A,B;C,...]
           [--folds 5] [--depth 10] [--max-seq-length 96] [--train-seq-length 64] [--threads 2]
           [--only-folds 3,4] [--retrieve sim0.2/both]
Results go to OUT/results.jsonl (one line per configuration and fold, appended as they finish, so a
rerun skips what is done; two processes may share it with --only-folds) and a Markdown summary on
stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from rankpipe.data.datasets import data_dir, load_dataset
from rankpipe.data.types import QueryCandidates, Ranking, Run
from rankpipe.distill.dataset import TrainingSet, build_training_set
from rankpipe.distill.mining import mine_pairs, parse_pairs
from rankpipe.distill.train import DEFAULT_STUDENT, TrainConfig, train_student
from rankpipe.evaluation.metrics import evaluate
from rankpipe.judges.spec import make_judge
from rankpipe.retrieval.dense import Encoder, build_dense_index
from rankpipe.retrieval.retrievers import open_index

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_dl19_subcorpus import subcorpus  # noqa: E402

TEACHERS = {
    "sim0": "sim:noise=0",
    "sim0.2": "sim:noise=0.2",
    "embed": f"embed:{DEFAULT_STUDENT}",
}
LOSSES = {"both": (1.0, 3.0), "point": (1.0, 0.0), "pair": (0.0, 3.0)}
DEFAULT_CONFIGS = "sim0.2/both;sim0.2/pair,sim0.2/point;sim0/both,embed/both"
"""Groups run in order, separated by `;`; within a group, fold by fold (so that an interrupted
group has the same folds for each of its configurations)."""


@dataclass(frozen=True)
class Settings:
    out: Path
    folds: int
    depth: int
    max_seq_length: int
    train_seq_length: int
    learning_rate: float
    batch_size: int
    epochs: float


def rerank_by_cosine(model: str, items: list[QueryCandidates], max_seq_length: int) -> Run:
    """Each query's candidates sorted by cosine(query, passage) under `model`."""
    encoder = Encoder(model, "cpu")
    encoder.model.max_seq_length = max_seq_length
    texts = list(dict.fromkeys(c.text for item in items for c in item.candidates))
    vectors = dict(zip(texts, encoder.encode(texts, "passage", normalize=True), strict=True))
    queries = encoder.encode([i.query.text for i in items], "query", normalize=True)
    run: Run = {}
    for item, q in zip(items, queries, strict=True):
        scored = sorted(
            ((float(vectors[c.text] @ q), c.docid) for c in item.candidates), reverse=True
        )
        run[item.query.qid] = Ranking(
            item.query.qid, tuple(d for _, d in scored), tuple(s for s, _ in scored)
        )
    return run


def retrieve_ndcg(
    model: str, corpus: dict[str, str], folder: Path, queries: list[QueryCandidates], qrels: dict
) -> dict[str, float]:
    """nDCG@10 per query of `model` retrieving the top 100 of `corpus` (index kept in `folder`)."""
    build_dense_index(corpus, folder, model=model)
    run = open_index(folder).search([item.query for item in queries], 100)
    shutil.rmtree(folder, ignore_errors=True)
    per_query = evaluate(run, {i.query.qid: qrels[i.query.qid] for i in queries}).per_query
    return {q: v["nDCG@10"] for q, v in per_query.items()}


def folds_of(qids: list[str], k: int) -> list[list[str]]:
    shuffled = sorted(qids)
    random.Random(0).shuffle(shuffled)
    return [shuffled[i::k] for i in range(k)]


def subset(training: TrainingSet, qids: set[str]) -> TrainingSet:
    data = training.data.filter(lambda row: row["qid"] in qids)
    return TrainingSet(data, replace(training.info, queries=len(data)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("eval/out/distill"))
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--depth", type=int, default=10, help="training candidates per query")
    parser.add_argument("--max-seq-length", type=int, default=96, help="tokens per text, eval")
    parser.add_argument("--train-seq-length", type=int, default=64, help="tokens per text, train")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--only-folds", help="run these folds only, e.g. 3,4 (a second process sharing OUT)"
    )
    parser.add_argument(
        "--retrieve",
        default="sim0.2/both",
        help="configurations whose students also retrieve from the sub-corpus ('' for none)",
    )
    args = parser.parse_args()
    retrieving = set(filter(None, args.retrieve.split(",")))
    torch.set_num_threads(args.threads)
    settings = Settings(
        args.out,
        args.folds,
        args.depth,
        args.max_seq_length,
        args.train_seq_length,
        args.lr,
        args.batch_size,
        args.epochs,
    )
    settings.out.mkdir(parents=True, exist_ok=True)
    results_file = settings.out / "results.jsonl"

    def finished() -> set[tuple[str, int]]:
        """(configuration, fold) rows in OUT, this process's and any other's sharing it."""
        if not results_file.exists():
            return set()
        return {(r["config"], r["fold"]) for r in map(json.loads, results_file.open())}

    done = finished()

    def record(row: dict[str, object]) -> None:
        row.update(load=os.getloadavg()[0], at=time.strftime("%H:%M:%S", time.gmtime()))
        with results_file.open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    dl19 = load_dataset("dl19")
    assert dl19.qrels is not None
    top100 = {item.query.qid: item for item in dl19.candidates}
    train_items = [item.truncated(settings.depth) for item in dl19.candidates]
    folds = folds_of(list(top100), settings.folds)

    if ("baseline", -1) not in done:
        started = time.perf_counter()
        run = rerank_by_cosine(DEFAULT_STUDENT, list(top100.values()), settings.max_seq_length)
        per_query = evaluate(run, dl19.qrels).per_query
        record(
            {
                "config": "baseline",
                "fold": -1,
                "seconds": time.perf_counter() - started,
                "ndcg10": {q: v["nDCG@10"] for q, v in per_query.items()},
            }
        )

    corpus = subcorpus(data_dir()) if retrieving else {}
    index_folder = settings.out / "index"
    if retrieving and ("retrieval:baseline", -1) not in done:
        started = time.perf_counter()
        everything = list(top100.values())
        ndcg = retrieve_ndcg(DEFAULT_STUDENT, corpus, index_folder, everything, dl19.qrels)
        record(
            {
                "config": "retrieval:baseline",
                "fold": -1,
                "passages": len(corpus),
                "seconds": time.perf_counter() - started,
                "ndcg10": ndcg,
            }
        )

    mined: dict[str, tuple[TrainingSet, float, int]] = {}
    plan = [
        (f, config)
        for group in args.configs.split(";")
        for f in range(settings.folds)
        for config in group.split(",")
        if not args.only_folds or str(f) in args.only_folds.split(",")
    ]
    for f, config in plan:
        teacher, _, loss_name = config.partition("/")
        done = finished()
        retrieve = config in retrieving and (f"retrieval:{config}", f) not in done
        if (config, f) in done and not retrieve:
            continue
        if teacher not in mined:
            started = time.perf_counter()
            judge = make_judge(TEACHERS[teacher], dl19.qrels)
            result = mine_pairs(train_items, judge, parse_pairs("window:5,n=16"))
            training = build_training_set(result)
            mined[teacher] = (
                training,
                time.perf_counter() - started,
                int(result.ledger.total()["inferences"]),
            )
        training, mine_s, inferences = mined[teacher]
        pointwise, alpha = LOSSES[loss_name]
        held_out = folds[f]
        out = settings.out / "models" / config.replace("/", "-") / f"fold{f}"
        train_qids = {q for g, fold in enumerate(folds) if g != f for q in fold}
        part = subset(training, train_qids)
        trained = train_student(
            part,
            out,
            TrainConfig(
                epochs=settings.epochs,
                batch_size=settings.batch_size,
                learning_rate=settings.learning_rate,
                pointwise=pointwise,
                alpha=alpha,
                max_seq_length=settings.train_seq_length,
                measure_loss=False,
                checkpoints=False,
            ),
            overwrite=True,
            data_name=f"DL19 folds other than {f}, {TEACHERS[teacher]}",
        )
        if retrieve:
            started = time.perf_counter()
            ndcg = retrieve_ndcg(
                str(out), corpus, index_folder, [top100[q] for q in held_out], dl19.qrels
            )
            record(
                {
                    "config": f"retrieval:{config}",
                    "fold": f,
                    "train_s": trained.seconds,
                    "seconds": time.perf_counter() - started,
                    "ndcg10": ndcg,
                }
            )
        if (config, f) not in done:  # else retrained for its retrieval row only (same seed, data)
            started = time.perf_counter()
            run = rerank_by_cosine(str(out), [top100[q] for q in held_out], settings.max_seq_length)
            per_query = evaluate(run, {q: dl19.qrels[q] for q in held_out}).per_query
            record(
                {
                    "config": config,
                    "fold": f,
                    "train_queries": part.info.queries,
                    "mining_inferences": inferences,
                    "mining_s": mine_s,
                    "train_s": trained.seconds,
                    "steps": trained.steps,
                    "losses": trained.losses,
                    "eval_s": time.perf_counter() - started,
                    "ndcg10": {q: v["nDCG@10"] for q, v in per_query.items()},
                }
            )
        shutil.rmtree(out, ignore_errors=True)
    summarize(results_file)


def paired_p(before: list[float], after: list[float]) -> float:
    """Two-sided paired t-test p-value (1.0 when nothing changed)."""
    from scipy.stats import ttest_rel

    if before == after:
        return 1.0
    return float(ttest_rel(after, before).pvalue)


def summarize(results_file: Path) -> None:
    rows = list(  # one row per (configuration, fold): the first written
        {
            (r["config"], r["fold"]): r
            for r in reversed([json.loads(line) for line in results_file.read_text().splitlines()])
        }.values()
    )
    baselines = {r["config"]: r["ndcg10"] for r in rows if r["config"].endswith("baseline")}
    baseline = baselines["baseline"]
    configs = list(dict.fromkeys(r["config"] for r in rows if r["config"] not in baselines))
    print(
        "\n| teacher / loss | folds | queries | nDCG@10 before | after | change | "
        "paired t p | mining inferences | train s / fold |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for config in configs:
        mine = [r for r in rows if r["config"] == config]
        retrieval = config.startswith("retrieval:")
        before_run = baselines.get("retrieval:baseline", {}) if retrieval else baseline
        qids = [q for r in mine for q in r["ndcg10"]]
        was = [before_run[q] for q in qids]
        now = [v for r in mine for v in r["ndcg10"].values()]
        before, after = statistics.mean(was), statistics.mean(now)
        print(
            f"| {config} | {len(mine)} | {len(qids)} | {before:.4f} | {after:.4f} | "
            f"{after - before:+.4f} | {paired_p(was, now):.3f} | "
            f"{mine[0].get('mining_inferences', '')} | "
            f"{statistics.mean(r['train_s'] for r in mine):.0f} |"
        )
    print(
        f"\nbaseline over all {len(baseline)} queries: {statistics.mean(baseline.values()):.4f}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
