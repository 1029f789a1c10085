"""`rankpipe distill`: mine a teacher's pairwise judgments and train a dense student on them
(PairDistill); `--mine-only` and `--from-dataset` split the two steps."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rankpipe.cli.inputs import (
    add_cache_arguments,
    add_candidate_arguments,
    cache_path,
    finite_float,
    load_candidates,
    positive_int,
    show_progress,
)
from rankpipe.data.topics import read_topics
from rankpipe.data.trec import read_run
from rankpipe.errors import InputError, JudgeError

DEPTH = 20


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "distill",
        help="distill a judge's pairwise preferences into a dense retriever (PairDistill)",
        description="Judge pairs of each query's top candidates with a teacher (batched, cached, "
        "costed like rerank), build a training set (datasets.Dataset) and train a "
        "sentence-transformers student with pointwise + pairwise KL. OUT becomes a "
        "sentence-transformers model folder (with the training set in OUT/training_set) that "
        "rankpipe index --kind dense --model OUT and --judge embed:OUT load.",
    )
    add_candidate_arguments(parser)
    for action in parser._actions:  # distillation mines the top 20 (PairDistill), not 100
        if action.dest == "depth":
            action.default = DEPTH
            action.help = f"candidates per query to mine and train on (default {DEPTH})"
    parser.add_argument(
        "--queries", metavar="FILE", help="train only on these queries (TSV qid<TAB>text)"
    )
    parser.add_argument("--judge", metavar="SPEC", help="the teacher: a judge spec, as for rerank")
    parser.add_argument(
        "--student",
        default="sentence-transformers/all-MiniLM-L6-v2",
        metavar="MODEL",
        help="sentence-transformers model or encoder to train (default all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="the student model folder to write (with --mine-only: the training set folder)",
    )
    parser.add_argument(
        "--pairs",
        default="window:5,n=16",
        metavar="RULE",
        help="window:W,n=N[,seed=S] | allpairs[:k=K] | strategy:NAME[+opt=val][,top_k=K] "
        "(default window:5,n=16)",
    )
    parser.add_argument(
        "--scores",
        default="bradley-terry",
        metavar="SOURCE",
        help="pointwise teacher scores: bradley-terry (from the mined pairs, default), "
        "first-stage (the candidates' scores) or a TREC run file",
    )
    parser.add_argument(
        "--mine-only", action="store_true", help="write the training set, no training"
    )
    parser.add_argument(
        "--from-dataset", metavar="DIR", help="train on a training set written by --mine-only"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    add_cache_arguments(parser, no_cache_help="keep judgments in memory only")
    parser.add_argument(
        "--batch-size", type=positive_int, default=32, help="prompts per judge call (default 32)"
    )
    orders = parser.add_mutually_exclusive_group()
    orders.add_argument(
        "--both-orders",
        dest="both_orders",
        action="store_true",
        default=True,
        help="ask (A,B) and (B,A) and average (default)",
    )
    orders.add_argument(
        "--one-order", dest="both_orders", action="store_false", help="ask (A,B) only"
    )
    training = parser.add_argument_group("training")
    weight = finite_float(minimum=0.0)
    training.add_argument(
        "--alpha", type=weight, default=3.0, help="weight of the pairwise KL term (default 3.0)"
    )
    training.add_argument(
        "--pointwise",
        type=weight,
        default=1.0,
        help="weight of the pointwise KL term (default 1.0)",
    )
    training.add_argument(
        "--in-batch",
        type=weight,
        default=0.0,
        help="weight of the in-batch contrastive term (default 0)",
    )
    training.add_argument(
        "--temperature",
        type=finite_float(minimum=1e-6),
        default=0.05,
        help="student temperature over cosine scores (default 0.05)",
    )
    training.add_argument(
        "--teacher-temperature",
        type=finite_float(minimum=1e-6),
        default=1.0,
        help="temperature over the teacher scores (default 1.0)",
    )
    training.add_argument(
        "--epochs", type=finite_float(minimum=0.01), default=1.0, help="training epochs (default 1)"
    )
    training.add_argument(
        "--max-steps",
        type=int,
        default=-1,
        help="stop after this many steps (default: the epochs decide)",
    )
    training.add_argument(
        "--train-batch-size",
        type=positive_int,
        default=4,
        help="queries per training step, each with all its candidates (default 4)",
    )
    training.add_argument(
        "--lr", type=finite_float(minimum=0.0), default=3e-5, help="learning rate (default 3e-5)"
    )
    training.add_argument(
        "--max-seq-length",
        type=positive_int,
        default=128,
        help="tokens per text in training (default 128)",
    )
    training.add_argument(
        "--dev-fraction",
        type=finite_float(0.0, 0.9),
        default=0.0,
        help="share of queries held out for eval loss and early stopping",
    )
    training.add_argument("--seed", type=int, default=42, help="training seed (default 42)")
    training.add_argument("--device", help="cpu, cuda, cuda:1 (default: a GPU when present)")
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    from rankpipe.distill.dataset import load_training_set, save_training_set
    from rankpipe.distill.train import TrainConfig, check_student, train_student

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise InputError(f"--out {out} exists; choose a new folder or pass --overwrite")
    if args.mine_only and args.from_dataset:
        raise InputError("--mine-only and --from-dataset exclude each other")
    if not args.mine_only:
        check_student(args.student)
    if args.from_dataset:
        if args.candidates or args.run or args.dataset or args.judge:
            raise InputError("--from-dataset trains on a mined set: give no candidates or --judge")
        training = load_training_set(args.from_dataset)
        data_name = str(args.from_dataset)
        print(
            f"training set {args.from_dataset}: {training.info.queries} queries, "
            f"{training.info.judged_pairs} judged pairs from {training.info.teacher}"
        )
    else:
        mined = mine(args)
        if mined is None:
            return 1
        training, ledger = mined
        data_name = describe_source(args)
        if args.mine_only:
            save_training_set(training, out, ledger, overwrite=args.overwrite)
            print(f"wrote {out} (training set; train with rankpipe distill --from-dataset {out})")
            return 0
    config = TrainConfig(
        student=args.student,
        epochs=args.epochs,
        batch_size=args.train_batch_size,
        learning_rate=args.lr,
        alpha=args.alpha,
        pointwise=args.pointwise,
        in_batch=args.in_batch,
        temperature=args.temperature,
        teacher_temperature=args.teacher_temperature,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
        max_steps=args.max_steps,
        dev_fraction=args.dev_fraction,
        device=args.device,
        progress=show_progress(),
    )
    try:
        result = train_student(training, out, config, overwrite=args.overwrite, data_name=data_name)
    except ValueError as error:  # the loss refuses its settings (e.g. every weight 0)
        raise InputError(str(error)) from None
    if not args.from_dataset:
        save_training_set(training, out / "training_set", ledger)
    dev = f", dev loss {result.dev_loss:.4f}" if result.dev_loss is not None else ""
    print(
        f"trained {args.student} on {training.info.queries} queries: {result.steps} steps in "
        f"{result.seconds:.1f} s; training-set loss {result.loss_before:.4f} -> "
        f"{result.loss_after:.4f} (mean training loss {result.train_loss:.4f}{dev})"
    )
    extra = "" if args.from_dataset else f" and {out / 'training_set'}"
    print(
        f"wrote {out} (a sentence-transformers model){extra}; use it with "
        f"rankpipe index --kind dense --model {out} or --judge embed:{out}"
    )
    return 0


def mine(args: argparse.Namespace):  # noqa: ANN201 - (TrainingSet, CostLedger) or None
    """Mine the teacher's pairs and build the training set; None when the judge failed (said)."""
    from rankpipe.distill.dataset import SCORE_SOURCES, build_training_set
    from rankpipe.distill.mining import mine_pairs, parse_pairs
    from rankpipe.judges.spec import make_judge

    if not args.judge:
        raise InputError("--judge SPEC names the teacher (or give --from-dataset DIR)")
    rule = parse_pairs(args.pairs)
    run = None
    if args.scores not in SCORE_SOURCES:
        if not Path(args.scores).is_file():
            raise InputError(
                f"--scores {args.scores!r}: expected bradley-terry, first-stage or a TREC run file"
            )
        run = read_run(args.scores)
    items, qrels = load_candidates(args)
    if args.queries:
        wanted = read_topics(args.queries)
        items = [item for item in items if item.query.qid in wanted]
        if not items:
            raise InputError(f"--queries {args.queries}: none of its queries has candidates")
    judge = make_judge(args.judge, qrels)
    cache = cache_path(args)
    try:
        mined = mine_pairs(
            items,
            judge,
            rule,
            cache=cache,
            batch_size=args.batch_size,
            both_orders=args.both_orders,
            progress=show_progress(),
        )
    except JudgeError as error:
        where = (
            f"cached in {cache}; rerun the same command to resume" if cache else "lost (--no-cache)"
        )
        print(
            f"rankpipe distill: judge failed: {error}\n"
            f"  judgments finished before the failure are {where}; nothing was trained",
            file=sys.stderr,
        )
        return None
    total = mined.ledger.total()
    pairs = sum(len(q.pairs) for q in mined.queries)
    print(
        f"mined {len(items)} queries with {rule} / {args.judge}: {pairs} pairs, "
        f"{total['inferences']:.0f} inferences ({total['cache_hits']:.0f} prompts from cache), "
        f"{total['judge_calls']:.0f} judge calls, {total['wall_s']:.1f} s"
    )
    source = "bradley-terry" if run is None and args.scores == "bradley-terry" else args.scores
    training = build_training_set(
        mined, source if run is None else "run", run, run_name=args.scores if run else ""
    )
    info = training.info
    left_out = f"; {len(info.skipped)} queries left out" if info.skipped else ""
    print(
        f"training set: {info.queries} queries, {info.judged_pairs} judged pairs; teacher "
        f"scores: {info.score_source}{left_out}"
    )
    return training, mined.ledger


def describe_source(args: argparse.Namespace) -> str:
    source = args.dataset or args.candidates or args.run
    return f"{source} (top {args.depth}), teacher {args.judge}, pairs {args.pairs}"
