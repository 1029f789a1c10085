"""`rankpipe rerank`: rerank candidates with a judge and a strategy; writes a TREC run and its
cost ledger."""

from __future__ import annotations

import argparse
import sys

from rankpipe.cli.inputs import (
    add_cache_arguments,
    add_candidate_arguments,
    cache_path,
    load_candidates,
    show_progress,
)
from rankpipe.data.trec import write_run
from rankpipe.data.types import run_from_candidates
from rankpipe.errors import JudgeError
from rankpipe.evaluation.metrics import evaluate
from rankpipe.rerank import rerank

DEFAULT_JUDGE = "embed:sentence-transformers/all-MiniLM-L6-v2"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "rerank",
        help="rerank candidates with a pairwise (or listwise) judge and a strategy",
        description="Rerank each query's candidates. Writes a TREC run (all candidates; "
        "positions below --top-k keep first-stage order for selection strategies) and "
        "RUN.cost.json. Every judgment is cached, so an interrupted run resumes where it stopped.",
    )
    add_candidate_arguments(parser)
    parser.add_argument(
        "--judge",
        default=DEFAULT_JUDGE,
        metavar="SPEC",
        help="hf:MODEL | vllm:MODEL | openai:MODEL@URL | embed:MODEL | sim:qrels=FILE,noise=P "
        f"(default {DEFAULT_JUDGE})",
    )
    parser.add_argument(
        "--strategy",
        default="heapsort",
        metavar="NAME[:opt=val,...]",
        help="allpairs, sliding, heapsort, quicksort, quickselect, mergesort, tournament, sparse, "
        "jointrank, cascade (default heapsort)",
    )
    parser.add_argument(
        "--top-k", type=int, default=10, help="positions the strategy decides (default 10)"
    )
    parser.add_argument(
        "--output", required=True, metavar="RUN", help="the reranked TREC run to write"
    )
    parser.add_argument("--cost", metavar="FILE", help="cost ledger (default RUN.cost.json)")
    add_cache_arguments(parser, no_cache_help="keep judgments in memory only")
    parser.add_argument(
        "--batch-size", type=int, default=32, help="prompts per judge call (default 32)"
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
    parser.add_argument("--tag", help="run tag (default rankpipe-STRATEGY)")
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    items, qrels = load_candidates(args)
    cache = cache_path(args)
    try:
        result = rerank(
            items,
            args.judge,
            args.strategy,
            args.top_k,
            cache=cache,
            batch_size=args.batch_size,
            both_orders=args.both_orders,
            qrels=qrels,
            progress=show_progress(),
        )
    except JudgeError as error:
        where = (
            f"cached in {cache}; rerun the same command to resume" if cache else "lost (--no-cache)"
        )
        print(
            f"rankpipe rerank: judge failed: {error}\n"
            f"  judgments finished before the failure are {where}",
            file=sys.stderr,
        )
        return 1
    strategy_name = args.strategy.partition(":")[0]
    write_run(result.run, args.output, tag=args.tag or f"rankpipe-{strategy_name}")
    cost_path = args.cost or f"{args.output}.cost.json"
    result.cost.write(cost_path)
    total = result.cost.total()
    print(
        f"reranked {len(items)} queries with {args.strategy} / {args.judge}: "
        f"{total['comparisons']:.0f} comparisons, {total['inferences']:.0f} inferences "
        f"({total['cache_hits']:.0f} prompts from cache), {total['judge_calls']:.0f} judge calls, "
        f"{total['rounds']:.0f} rounds, {total['wall_s']:.1f} s"
    )
    if total["invalid_answers"]:
        print(
            f"warning: {total['invalid_answers']:.0f} judge answers were unusable (pairwise "
            "answers naming neither passage, scored 0.5; or identifiers repaired in listwise "
            "permutations); see --verbose",
            file=sys.stderr,
        )
    print(f"wrote {args.output} and {cost_path}")
    if qrels:
        judged = {qid: labels for qid, labels in qrels.items() if qid in result.run}
        before = evaluate(run_from_candidates(items), judged).aggregate
        after = evaluate(result.run, judged).aggregate
        for name in after:
            print(f"  {name:<14} first stage {before[name]:.4f}  reranked {after[name]:.4f}")
    return 0
