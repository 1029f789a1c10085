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
    load_candidates,
    positive_int,
    show_progress,
)
from rankpipe.data.topics import read_topics
from rankpipe.data.trec import read_qrels, read_run
from rankpipe.distill.options import add_training_arguments, read_qids, train_config
from rankpipe.errors import InputError, JudgeError
from rankpipe.executor import ORDERS

DEPTH = 30


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
        "--out",
        required=True,
        metavar="DIR",
        help="the student model folder to write (with --mine-only: the training set folder)",
    )
    add_mining_arguments(parser)
    add_training_arguments(parser)
    parser.set_defaults(handler=run_command)


def add_mining_arguments(parser: argparse.ArgumentParser) -> None:
    """How the teacher is asked, where the judgments go, and the rounds."""
    parser.add_argument(
        "--pairs",
        default="window:5,n=16,k=20",
        metavar="RULE",
        help="window:W,n=N[,seed=S][,k=K] | allpairs[:k=K] | strategy:NAME[+opt=val][,top_k=K] "
        "(default window:5,n=16,k=20: over the teacher's top 20)",
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
    parser.add_argument(
        "--orders",
        choices=ORDERS,
        default="both",
        help="both: ask (A,B) and (B,A) and average (the default); one: ask (A,B) only",
    )
    parser.add_argument(
        "--rank-with",
        default="heapsort",
        metavar="STRATEGY",
        help="the strategy the teacher ranks each query's candidates with before the pairs are "
        "taken over its order (default heapsort; 'none': pairs over the first-stage order)",
    )
    parser.add_argument(
        "--rank-top-k",
        type=positive_int,
        default=20,
        help="positions the teacher's ranking decides (default 20)",
    )
    parser.add_argument(
        "--keep",
        type=positive_int,
        default=20,
        help="candidates per query trained on: the teacher's top KEEP (default 20)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=1,
        help="training rounds; each after the first mines the student's own top --depth from "
        "--corpus (default: every candidate passage) as hard negatives (default 1)",
    )
    parser.add_argument(
        "--shard-queries",
        type=positive_int,
        default=1000,
        help="with --mine-only: queries mined and written per shard (default 1000)",
    )


def run_command(args: argparse.Namespace) -> int:
    from rankpipe.distill.train import check_student

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise InputError(f"--out {out} exists; choose a new folder or pass --overwrite")
    if args.mine_only and args.from_dataset:
        raise InputError("--mine-only and --from-dataset exclude each other")
    if args.from_dataset and args.rounds > 1:
        raise InputError(
            "--rounds needs the teacher: give candidates and --judge, not --from-dataset"
        )
    if not args.mine_only:
        check_student(args.student)
    try:
        if args.from_dataset:
            result = train_from_dataset(args)
        elif args.mine_only:
            return mine_only(args)
        else:
            result = mine_and_train(args)
    except JudgeError as error:
        cache = cache_path(args)
        where = (
            f"cached in {cache}; rerun the same command to resume" if cache else "lost (--no-cache)"
        )
        print(
            f"rankpipe distill: judge failed: {error}\n"
            f"  judgments finished before the failure are {where}; nothing was trained",
            file=sys.stderr,
        )
        return 1
    report(args, result)
    return 0


def train_from_dataset(args: argparse.Namespace):  # noqa: ANN201 - a DistillResult
    from rankpipe.distill.dataset import load_training_set
    from rankpipe.distill.pipeline import distill_training_set

    if args.candidates or args.run or args.dataset or args.judge:
        raise InputError("--from-dataset trains on a mined set: give no candidates or --judge")
    training = load_training_set(args.from_dataset)
    print(
        f"training set {args.from_dataset}: {training.info.queries} queries, "
        f"{training.info.judged_pairs} judged pairs from {training.info.teacher}"
    )
    return distill_training_set(
        training,
        args.out,
        training=train_config(args, show_progress()),
        qrels=read_qrels(args.qrels) if args.qrels else None,
        dev_fraction=args.dev_fraction,
        dev_queries=read_qids(args.dev_queries) if args.dev_queries else None,
        overwrite=args.overwrite,
        data_name=str(args.from_dataset),
    )


def mine_and_train(args: argparse.Namespace):  # noqa: ANN201 - a DistillResult
    from rankpipe.data.corpus import read_corpus
    from rankpipe.distill.pipeline import distill

    items, qrels, judge, mining = inputs(args)
    result = distill(
        items,
        judge,
        args.out,
        training=train_config(args, show_progress()),
        mining=mining,
        qrels=qrels,
        dev_fraction=args.dev_fraction,
        dev_queries=read_qids(args.dev_queries) if args.dev_queries else None,
        rounds=args.rounds,
        corpus=read_corpus(args.corpus) if args.corpus and args.rounds > 1 else None,
        cache=cache_path(args),
        overwrite=args.overwrite,
        progress=show_progress(),
        data_name=describe_source(args),
    )
    return result


def mine_only(args: argparse.Namespace) -> int:
    from rankpipe.distill.dataset import load_training_set
    from rankpipe.distill.pipeline import mine_to_folder

    items, _, judge, mining = inputs(args)
    mine_to_folder(
        items,
        judge,
        args.out,
        mining=mining,
        cache=cache_path(args),
        shard_queries=args.shard_queries,
        overwrite=args.overwrite,
        progress=show_progress(),
    )
    info = load_training_set(args.out).info
    left_out = f"; {len(info.skipped)} queries left out" if info.skipped else ""
    print(
        f"mined {len(items)} queries with {info.pairs_rule} / {args.judge}: {info.judged_pairs} "
        f"pairs, {info.inferences} inferences; teacher scores: {info.score_source}{left_out}"
    )
    print(f"wrote {args.out} (training set; train with rankpipe distill --from-dataset {args.out})")
    return 0


def inputs(args: argparse.Namespace):  # noqa: ANN201 - (items, qrels, judge, MiningSettings)
    """The candidates, qrels, teacher and mining settings the arguments name."""
    from rankpipe.distill.dataset import SCORE_SOURCES
    from rankpipe.distill.mining import parse_pairs
    from rankpipe.distill.pipeline import MiningSettings
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
    rank_with = None if args.rank_with == "none" else args.rank_with
    if rank_with and rule.kind == "strategy":
        raise InputError("--pairs strategy:... asks its own comparisons: give --rank-with none")
    mining = MiningSettings(
        rule=rule,
        rank_with=rank_with,
        rank_top_k=args.rank_top_k,
        keep=args.keep if rank_with else None,
        depth=args.depth,
        batch_size=args.batch_size,
        orders=args.orders,
        scores=args.scores if run is None else "run",
        score_run=run,
        score_run_name=args.scores if run is not None else "",
    )
    return items, qrels, make_judge(args.judge, qrels), mining


def report(args: argparse.Namespace, result) -> None:  # noqa: ANN001 - a DistillResult
    first = result.rounds[0]
    total = first.ledger.total()
    info = result.training_set.info
    if not args.from_dataset:
        teacher = f"ranked by the teacher ({args.rank_with}), " if args.rank_with != "none" else ""
        left_out = f"; {len(info.skipped)} queries left out" if info.skipped else ""
        print(
            f"mined {info.queries + len(info.skipped)} queries, {teacher}pairs {info.pairs_rule} / "
            f"{args.judge}: {info.judged_pairs} pairs, {total['inferences']:.0f} inferences "
            f"({total['cache_hits']:.0f} prompts from cache), {total['judge_calls']:.0f} judge "
            f"calls, {total['wall_s']:.1f} s{left_out}"
        )
    for r in result.rounds:
        t = r.train
        print(
            f"round {r.round}: trained {args.student if r.round == 0 else 'the kept student'} on "
            f"{r.queries} queries: {t.steps} steps in {t.seconds:.1f} s; training-set loss "
            f"{t.loss_before:.4f} -> {t.loss_after:.4f} (the saved student: "
            f"{'the last step' if t.kept_step is None else f'step {t.kept_step}'})"
        )
    print(result.summary())
    print(
        f"wrote {args.out} (a sentence-transformers model, with its training set and rounds.json);"
        f" use it with rankpipe index --kind dense --model {args.out} or --judge embed:{args.out}"
    )


def describe_source(args: argparse.Namespace) -> str:
    source = args.dataset or args.candidates or args.run
    return f"{source} (top {args.depth}), teacher {args.judge}, pairs {args.pairs}"
