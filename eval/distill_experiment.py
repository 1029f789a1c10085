"""Pairwise distillation on TREC DL19 with `rankpipe.distill.distill` (issue 21): query-level
5-fold cross-validation (train on four folds' queries, evaluate on the fifth), the default recipe
(the teacher ranks each training query's BM25 top 30 with heapsort, window pairs over its top 20,
training on its top 20 with in-batch negatives, at least 40 steps, a 20 % dev split of the training
queries, label-free selection by agreement with the teacher), each training run giving two
students: the selected one (`TEACHER/select-se1`: the best step on the dev queries when it beats
step 0 by more than one standard error, `--select-margin`; `TEACHER/select` for margin 0, the rule
before 2026-12-07) and its last step (`TEACHER/last`, no selection).
Teachers: `sim:noise=0`, `sim:noise=0.2`, `embed:all-MiniLM-L6-v2` (self-distillation) and
`labels` (supervised: the same trainer with the relevance labels as the teacher: sim at noise 0
for the pairs, the labels as pointwise scores, selection by dev nDCG@10 on the labels).

Evaluation on the held-out queries: (a) reranking the BM25 top 100 by cosine (96 tokens per text);
(b) with --retrieve, retrieval over the 7,230-passage DL19 sub-corpus (build_dl19_subcorpus.py,
faiss flat through `build_dense_index` / `open_index`, the code behind `rankpipe index` /
`retrieve`). A selected student that is the untrained one (no step beat it on the dev queries) has
the same weights as the baseline, so its held-out scores are the baseline's (not recomputed).

Usage: python eval/distill_experiment.py [--out eval/out/distill21] [--teachers sim0.2,sim0]
           [--folds 5] [--only-folds 0,1] [--retrieve sim0.2/select,sim0.2/last] [--threads 1]
Results go to OUT/results.jsonl (one line per configuration and fold, appended as they finish; a
rerun skips what is done) and a Markdown summary on stdout.
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
from pathlib import Path

import torch

from rankpipe.cache import MemoryCache
from rankpipe.data.datasets import data_dir, load_dataset
from rankpipe.data.types import QueryCandidates, Ranking, Run
from rankpipe.distill.config import DEFAULT_STUDENT, TrainConfig
from rankpipe.distill.pipeline import MiningSettings, distill
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
    "labels": "sim:noise=0",
}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("eval/out/distill21"))
    parser.add_argument("--teachers", default="sim0.2,sim0")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", help="run these folds only, e.g. 3,4")
    parser.add_argument("--depth", type=int, default=30, help="BM25 candidates per query mined")
    parser.add_argument("--max-seq-length", type=int, default=96, help="tokens per text, eval")
    parser.add_argument("--train-seq-length", type=int, default=64, help="tokens per text, train")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--retrieve", default="", help="configurations that also retrieve")
    parser.add_argument("--no-train", action="store_true", help="only the retrieval phase")
    parser.add_argument(
        "--select-margin",
        type=float,
        default=1.0,
        help="TrainConfig.select_margin; the selected student is named TEACHER/select for 0 "
        "(the rule before 2026-12-07), TEACHER/select-seM for M > 0",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="training rounds (later ones on the student's own top 30 among the training "
        "queries' candidates); configurations are named TEACHER-rR",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    dl19 = load_dataset("dl19")
    assert dl19.qrels is not None
    top100 = {item.query.qid: item for item in dl19.candidates}
    folds = folds_of(list(top100), args.folds)
    wanted = [f for f in range(args.folds) if not args.only_folds or str(f) in args.only_folds]
    if ("baseline", -1) not in finished(results):
        started = time.perf_counter()
        run = rerank_by_cosine(DEFAULT_STUDENT, list(top100.values()), args.max_seq_length)
        per_query = evaluate(run, dl19.qrels).per_query
        record(
            results,
            {
                "config": "baseline",
                "fold": -1,
                "seconds": time.perf_counter() - started,
                "ndcg10": {q: v["nDCG@10"] for q, v in per_query.items()},
            },
        )
    for teacher in [] if args.no_train else args.teachers.split(","):
        cache = MemoryCache()  # one teacher's judgments, shared by its folds
        for f in wanted:
            name = teacher if args.rounds == 1 else f"{teacher}-r{args.rounds}"
            if (f"{name}/select{rule(args.select_margin)}", f) not in finished(results):
                train_fold(args, results, dl19, top100, folds, teacher, f, cache)
    if args.retrieve:
        retrieval_phase(args, results, dl19, top100, folds, args.retrieve.split(","), wanted)
    summarize(results)


def rule(margin: float) -> str:
    """The selection rule's suffix in names: "" for margin 0 (the rule before 2026-12-07)."""
    return "" if margin == 0 else f"-se{margin:g}"


def finished(results: Path) -> set[tuple[str, int]]:
    if not results.exists():
        return set()
    return {(r["config"], r["fold"]) for r in map(json.loads, results.open())}


def record(results: Path, row: dict[str, object]) -> None:
    row.update(load=os.getloadavg()[0], at=time.strftime("%H:%M:%S", time.gmtime()))
    with results.open("a") as out:
        out.write(json.dumps(row) + "\n")
    print(json.dumps(row)[:300], flush=True)


def baseline_of(results: Path, config: str) -> dict[str, float]:
    return next(r["ndcg10"] for r in map(json.loads, results.open()) if r["config"] == config)


def train_fold(args, results, dl19, top100, folds, teacher, f, cache) -> None:  # noqa: ANN001
    """Train one fold's student on the other folds and evaluate it and its last step."""
    held_out = folds[f]
    train_items = [
        top100[q].truncated(args.depth) for g, fold in enumerate(folds) if g != f for q in fold
    ]
    mining = MiningSettings()
    qrels = None
    if teacher == "labels":  # the labels as pointwise teacher scores; select on their nDCG@10
        labels = {
            q: Ranking(q, tuple(d), tuple(float(v) for v in d.values()))
            for q, d in dl19.qrels.items()
        }
        mining = MiningSettings(scores="run", score_run=labels, score_run_name="qrels")
        qrels = dl19.qrels
    name = teacher if args.rounds == 1 else f"{teacher}-r{args.rounds}"
    folder = args.out / "models" / name / f"fold{f}{rule(args.select_margin)}"
    # the last step of the last round; with rounds, earlier rounds' selection shapes it too
    after = rule(args.select_margin) if args.rounds > 1 else ""
    last = folder.with_name(f"fold{f}-last{after}")
    started = time.perf_counter()
    result = distill(
        train_items,
        make_judge(TEACHERS[teacher], dl19.qrels),
        folder,
        training=TrainConfig(
            max_seq_length=args.train_seq_length,
            measure_loss=False,
            select_margin=args.select_margin,
        ),
        mining=mining,
        qrels=qrels,
        cache=cache,
        overwrite=True,
        last_out=last,
        rounds=args.rounds,
        data_name=f"DL19 folds other than {f}, {TEACHERS[teacher]}",
    )
    wall = time.perf_counter() - started
    trained = result.rounds[0].train
    common = {
        "fold": f,
        "train_queries": result.rounds[0].queries,
        "dev_queries": len(result.dev_queries),
        "dev_measure": result.dev_measure,
        "mining_inferences": result.costs()["inferences"],
        "train_s": sum(r.train.seconds for r in result.rounds),
        "distill_wall_s": wall,
        "steps": trained.steps,
        "kept_step": trained.kept_step,
        "dev": [[s.step, s.agreement, s.teacher_ndcg, s.ndcg10] for s in trained.dev],
        "rounds": [
            {
                "round": r.round,
                "queries": r.queries,
                "pairs": r.judged_pairs,
                "steps": r.train.steps,
                "kept_step": r.train.kept_step,
                "train_s": r.train.seconds,
                "cache_hits": r.ledger.total()["cache_hits"],
                "dev": [[s.step, s.agreement, s.teacher_ndcg] for s in r.dev],
            }
            for r in result.rounds
        ],
    }
    held = [top100[q] for q in held_out]
    baseline = baseline_of(results, "baseline")
    for variant, model, unchanged in (
        (f"last{after}", last, False),
        (f"select{rule(args.select_margin)}", folder, result.base_unchanged),
    ):
        started = time.perf_counter()
        if unchanged:
            ndcg = {q: baseline[q] for q in held_out}
        else:
            run = rerank_by_cosine(str(model), held, args.max_seq_length)
            per_query = evaluate(run, {q: dl19.qrels[q] for q in held_out}).per_query
            ndcg = {q: v["nDCG@10"] for q, v in per_query.items()}
        record(
            results,
            {
                "config": f"{name}/{variant}",
                **common,
                "base_unchanged": unchanged,
                "model": str(model),
                "eval_s": time.perf_counter() - started,
                "ndcg10": ndcg,
            },
        )


def retrieval_phase(args, results, dl19, top100, folds, configs, wanted) -> None:  # noqa: ANN001
    corpus = subcorpus(data_dir())
    index = args.out / f"index-{os.getpid()}"  # two processes may retrieve at once
    if ("retrieval:baseline", -1) not in finished(results):
        started = time.perf_counter()
        ndcg = retrieve_ndcg(DEFAULT_STUDENT, corpus, index, list(top100.values()), dl19.qrels)
        record(
            results,
            {
                "config": "retrieval:baseline",
                "fold": -1,
                "passages": len(corpus),
                "seconds": time.perf_counter() - started,
                "ndcg10": ndcg,
            },
        )
    baseline = baseline_of(results, "retrieval:baseline")
    rows = {(r["config"], r["fold"]): r for r in map(json.loads, results.open())}
    for config in configs:
        for f in wanted:
            row = rows.get((config, f))
            if row is None or (f"retrieval:{config}", f) in rows:
                continue
            started = time.perf_counter()
            held = [top100[q] for q in folds[f]]
            if row["base_unchanged"]:
                ndcg = {q: baseline[q] for q in folds[f]}
            else:
                ndcg = retrieve_ndcg(row["model"], corpus, index, held, dl19.qrels)
            record(
                results,
                {
                    "config": f"retrieval:{config}",
                    "fold": f,
                    "base_unchanged": row["base_unchanged"],
                    "train_s": row["train_s"],
                    "seconds": time.perf_counter() - started,
                    "ndcg10": ndcg,
                },
            )


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
        "\n| configuration | folds | queries | nDCG@10 before | after | change | "
        "paired t p | folds left unchanged | train s / fold |"
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
        unchanged = sum(bool(r.get("base_unchanged")) for r in mine)
        print(
            f"| {config} | {len(mine)} | {len(qids)} | {before:.4f} | {after:.4f} | "
            f"{after - before:+.4f} | {paired_p(was, now):.3f} | {unchanged} | "
            f"{statistics.mean(r['train_s'] for r in mine):.0f} |"
        )
    print(
        f"\nbaseline over all {len(baseline)} queries: {statistics.mean(baseline.values()):.4f}",
        file=sys.stderr,
    )
    per_fold(rows, baselines)


def per_fold(rows: list[dict], baselines: dict[str, dict[str, float]]) -> None:
    """One line per configuration and fold: before/after, the dev measure at step 0 and at the
    kept step, the training time and the machine's load."""
    print(
        "\n| configuration | fold | held out | before | after | kept step / steps | "
        "dev step 0 -> kept | train s | load | at (UTC) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(
        (r for r in rows if r["config"] not in baselines), key=lambda r: (r["config"], r["fold"])
    ):
        before_run = baselines.get(
            "retrieval:baseline" if r["config"].startswith("retrieval:") else "baseline", {}
        )
        was = statistics.mean(before_run[q] for q in r["ndcg10"])
        now = statistics.mean(r["ndcg10"].values())
        dev = {step: agreement for step, agreement, *_ in r.get("dev", [])}
        kept = r.get("steps") if "/last" in r["config"] else r.get("kept_step")
        shown = f"{dev[0]:.3f} -> {dev[kept]:.3f}" if dev and kept in dev else ""
        steps = f"{kept} / {r['steps']}" if "steps" in r else ""
        print(
            f"| {r['config']} | {r['fold']} | {len(r['ndcg10'])} | {was:.4f} | {now:.4f} | "
            f"{steps} | {shown} | {r['train_s']:.0f} | {r['load']:.1f} | {r['at']} |"
        )


if __name__ == "__main__":
    main()
