"""The selection rule with a margin (`TrainConfig.select_margin`, the one-standard-error rule)
applied to the cross-validation's training runs of `eval/distill_experiment.py`, exactly and
without training again (issue 21).

Training does not depend on the rule (selection only copies weights), and the rule chooses between
two students the experiment saved: the best step on the dev queries (`TEACHER/select`, chosen with
margin 0) and step 0 (the untrained student). So for each fold this script mines the fold's
training queries again with the same teacher and settings (deterministic: the dev queries' judged
pairs come back the same), scores both students on the fold's dev queries with
`rankpipe.distill.dev.score_student` at the training length (64 tokens), checks that the means
equal what training recorded, and asks `clearly_better(best, step 0, measure, margin)`. The
held-out scores of the result are the `select` row's (kept) or the untrained student's (held
back), for reranking and, where the experiment retrieved, for retrieval. Rows are appended to the
experiment's results as `TEACHER/select-se1` (margin 1) and `retrieval:TEACHER/select-se1`.

Usage: python eval/distill_selection_rule.py [--out eval/out/distill21] [--teachers sim0.2,sim0,
           embed,labels] [--margin 1]
       python eval/distill_selection_rule.py --model DIR --judge sim:noise=0.2
           (one student `rankpipe distill --dataset dl19` trained on all 43 queries: the rule's
           verdict on its kept step, with the per-query differences)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from rankpipe.cache import MemoryCache
from rankpipe.data.datasets import load_dataset
from rankpipe.data.types import Ranking
from rankpipe.distill.config import DEFAULT_STUDENT
from rankpipe.distill.dev import DevSet, clearly_better, score_student
from rankpipe.distill.pipeline import MiningSettings, mine_training_set, partition
from rankpipe.distill.train import load_student
from rankpipe.judges.spec import make_judge

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distill_experiment import TEACHERS, baseline_of, folds_of, record  # noqa: E402


def mining_for(teacher: str, qrels: dict) -> MiningSettings:
    if teacher != "labels":
        return MiningSettings()
    labels = {
        q: Ranking(q, tuple(d), tuple(float(v) for v in d.values())) for q, d in qrels.items()
    }
    return MiningSettings(scores="run", score_run=labels, score_run_name="qrels")


def student(name: str, length: int) -> object:
    model = load_student(name, "cpu")
    model.max_seq_length = length
    return model


def verdict(args, items, judge, mining, qrels, folder: Path, margin: float) -> dict:  # noqa: ANN001
    """The rule's verdict on the student in `folder` against step 0 on its dev queries, mined
    again from `items` (asserting that training recorded the same dev means)."""
    facts = json.loads((folder / "rounds.json").read_text())
    kept, measure = facts["rounds"][0]["kept_step"], facts["dev_measure"]
    if kept == 0:
        return {"kept": False, "why": "margin 0 kept step 0 already"}
    mined, _ = mine_training_set(items, judge, mining, MemoryCache())
    dev = DevSet.from_rows(list(partition(mined, set(facts["dev_queries"]))[0]), qrels)
    assert dev.measure == measure, (dev.measure, measure)
    first = score_student(student(DEFAULT_STUDENT, args.train_seq_length), dev, 0)
    best = score_student(student(str(folder), args.train_seq_length), dev, kept)
    recorded = {s["step"]: s[measure] for s in facts["rounds"][0]["dev"]}
    for score in (first, best):  # the same students, the same dev queries: the same means
        assert abs(score.value(measure) - recorded[score.step]) < 1e-4, (score, recorded)
    return {
        "kept": clearly_better(best, first, measure, margin),
        "gain": best.value(measure) - first.value(measure),
        "diffs": {q: round(best.per_query[q] - first.per_query[q], 4) for q in best.per_query},
        "measure": measure,
        "best_step": kept,
    }


def decide(args, dl19, top100, folds, teacher, f, rows) -> dict:  # noqa: ANN001
    """Whether fold f's best step is clearly better than step 0 on its dev queries."""
    items = [
        top100[q].truncated(args.depth) for g, fold in enumerate(folds) if g != f for q in fold
    ]
    return verdict(
        args,
        items,
        make_judge(TEACHERS[teacher], dl19.qrels),
        mining_for(teacher, dl19.qrels),
        dl19.qrels if teacher == "labels" else None,
        Path(rows[(f"{teacher}/select", f)]["model"]),
        args.margin,
    )


def check_model(args: argparse.Namespace, dl19) -> None:  # noqa: ANN001
    """The rule's verdict on one student trained on all of DL19 (the README's run)."""
    items = [item.truncated(args.depth) for item in dl19.candidates]
    judge = make_judge(args.judge, dl19.qrels)
    print(
        json.dumps(
            verdict(args, items, judge, MiningSettings(), dl19.qrels, args.model, args.margin)
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("eval/out/distill21"))
    parser.add_argument("--teachers", default="sim0.2,sim0,embed,labels")
    parser.add_argument("--margin", type=float, default=1.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--train-seq-length", type=int, default=64)
    parser.add_argument("--model", type=Path, help="check this one student instead")
    parser.add_argument("--judge", default="sim:noise=0.2", help="its teacher (with --model)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.model:
        check_model(args, load_dataset("dl19"))
        return
    results = args.out / "results.jsonl"
    dl19 = load_dataset("dl19")
    top100 = {item.query.qid: item for item in dl19.candidates}
    folds = folds_of(list(top100), args.folds)
    name = f"select-se{args.margin:g}"
    for teacher in args.teachers.split(","):
        for f in range(args.folds):
            rows = {(r["config"], r["fold"]): r for r in map(json.loads, results.open())}
            tasks = [
                t
                for t in ("", "retrieval:")
                if (f"{t}{teacher}/select", f) in rows and (f"{t}{teacher}/{name}", f) not in rows
            ]
            if not tasks:
                continue
            done = rows.get((f"{teacher}/{name}", f))
            decision = (
                done["decision"] if done else decide(args, dl19, top100, folds, teacher, f, rows)
            )
            print(teacher, f, json.dumps(decision), flush=True)
            for task in tasks:
                source = rows[(f"{task}{teacher}/select", f)]
                baseline = baseline_of(results, f"{task}baseline")
                ndcg = source["ndcg10"] if decision["kept"] else {q: baseline[q] for q in folds[f]}
                row = {k: v for k, v in source.items() if k not in ("load", "at", "config")}
                row.update(
                    config=f"{task}{teacher}/{name}",
                    base_unchanged=not decision["kept"],
                    ndcg10=ndcg,
                    decision=decision,
                )
                if not task:
                    row["kept_step"] = row["kept_step"] if decision["kept"] else 0
                record(results, row)


if __name__ == "__main__":
    main()
