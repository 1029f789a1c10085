"""`rankpipe rerank`: rerank candidates with a judge and a strategy; writes a TREC run and its
cost ledger."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from rankpipe.atomic import written_together
from rankpipe.cli.inputs import (
    STDOUT,
    add_cache_arguments,
    add_candidate_arguments,
    cache_path,
    candidate_inputs,
    check_outputs,
    check_qrels_cover,
    judge_inputs,
    load_candidates,
    positive_int,
    show_progress,
)
from rankpipe.data.textfile import check_identifier
from rankpipe.data.trec import format_run, write_run
from rankpipe.data.types import Qrels, QueryCandidates, run_from_candidates
from rankpipe.errors import InputError
from rankpipe.evaluation.metrics import evaluate
from rankpipe.executor import ORDERS
from rankpipe.judges.spec import backends_help
from rankpipe.reranker import Reranker, RerankResult
from rankpipe.strategies.base import Strategy
from rankpipe.strategies.quicksort import QuickSelect
from rankpipe.strategies.registry import make_strategy

DEFAULT_JUDGE = "embed:sentence-transformers/all-MiniLM-L6-v2"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "rerank",
        help="rerank candidates with a pairwise (or listwise) judge and a strategy",
        description="Rerank each query's candidates. Writes a TREC run (all candidates; "
        "positions below --top-k keep first-stage order for selection strategies) and "
        "RUN.cost.json. Every judgment is cached, so an interrupted run resumes where it stopped.",
        epilog="judge backends and their options (--judge BACKEND:MODEL,key=value,...):\n"
        + backends_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        "--top-k",
        type=positive_int,
        default=10,
        help="positions the strategy decides (default 10)",
    )
    parser.add_argument(
        "--output",
        required=True,
        metavar="RUN",
        help="the reranked TREC run to write (-: standard output, with --cost FILE)",
    )
    parser.add_argument("--cost", metavar="FILE", help="cost ledger (default RUN.cost.json)")
    add_cache_arguments(parser, no_cache_help="keep judgments in memory only")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=32,
        help="prompts per judge call (default 32)",
    )
    parser.add_argument(
        "--orders",
        choices=ORDERS,
        default="both",
        help="both: ask (A,B) and (B,A) and average, PRP's fix for position bias (the default); "
        "one: ask (A,B) only",
    )
    parser.add_argument(
        "--reuse-reversed",
        action="store_true",
        help="with --orders one: let a cached answer to (B,A) answer (A,B) too (fewer inferences, "
        "but the output then depends on what else the cache holds)",
    )
    parser.add_argument("--tag", help="run tag (default rankpipe-STRATEGY)")
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    cache = cache_path(args)
    to_stdout = args.output == STDOUT
    if to_stdout and not args.cost:
        raise InputError(
            "--output -: the run goes to standard output; give --cost FILE for its cost ledger"
        )
    cost_path = args.cost or f"{args.output}.cost.json"
    check_outputs(
        [(args.output, "--output"), (cost_path, "--cost"), (cache, "--cache")],
        inputs=[*candidate_inputs(args), *judge_inputs(args.judge)],
        stdout={"--output"},
    )
    tag = args.tag or f"rankpipe-{args.strategy.partition(':')[0]}"
    try:
        check_identifier("run tag", tag)
    except InputError as error:
        raise InputError(f"--tag: {error}") from None
    if args.reuse_reversed and args.orders != "one":
        raise InputError("--reuse-reversed: only with --orders one")
    strategy = make_strategy(args.strategy)
    items, qrels = load_candidates(args)
    check_qrels_cover(items, qrels, "--qrels" if args.qrels else f"--dataset {args.dataset}")
    _announce_substitution(strategy, items, args.top_k, args.orders)
    with Reranker(
        args.judge,
        strategy,
        args.top_k,
        depth=None,  # load_candidates kept the top --depth
        cache=cache,
        batch_size=args.batch_size,
        orders=args.orders,
        reuse_reversed=args.reuse_reversed,
        qrels=qrels,
        progress=show_progress(),
    ) as reranker:
        notice = reranker.judge_notice()
        if notice:
            print(f"note: {notice}", file=sys.stderr)
        result = reranker.rerank(items)
    with written_together():  # the run and its ledger: both or neither
        if to_stdout:
            run_text = format_run(result.run, tag=tag)
        else:
            write_run(result.run, args.output, tag=tag)
        result.cost.write(cost_path)
    if to_stdout:  # the run alone on standard output; what is said about it goes to stderr
        sys.stdout.write(run_text)
        sys.stdout.flush()
    _report(args, result, items, qrels, cost_path, sys.stderr if to_stdout else sys.stdout)
    return 0


def _report(
    args: argparse.Namespace,
    result: RerankResult,
    items: Sequence[QueryCandidates],
    qrels: Qrels | None,
    cost_path: str,
    out: TextIO,
) -> None:
    """What the run cost, and how it scores against the first stage when there are qrels."""
    total = result.cost.total()
    print(
        f"reranked {len(items)} queries with {args.strategy} / {args.judge}: "
        f"{total['comparisons']:.0f} comparisons, {total['inferences']:.0f} inferences "
        f"({total['cache_hits']:.0f} prompts from cache), {total['judge_calls']:.0f} judge calls, "
        f"{total['rounds']:.0f} rounds, {total['wall_s']:.1f} s",
        file=out,
    )
    if total["invalid_answers"]:
        print(
            f"warning: {total['invalid_answers']:.0f} judge answers were unusable (pairwise "
            "answers naming neither passage, scored 0.5; or identifiers repaired in listwise "
            "permutations); see --verbose",
            file=sys.stderr,
        )
    where = "standard output" if args.output == STDOUT else args.output
    print(f"wrote {where} and {cost_path}", file=out)
    if qrels:
        judged = {qid: labels for qid, labels in qrels.items() if qid in result.run}
        before = evaluate(run_from_candidates(items), judged).aggregate
        after = evaluate(result.run, judged).aggregate
        for name in after:
            print(
                f"  {name:<14} first stage {before[name]:.4f}  reranked {after[name]:.4f}",
                file=out,
            )


def _announce_substitution(
    strategy: Strategy, items: Sequence[QueryCandidates], top_k: int, orders: str
) -> None:
    """Say so on stderr when quickselect will order whole queries all-pairs (its rule:
    `QuickSelect.whole_queries`), with the prompts that costs: far more than the name suggests."""
    if not isinstance(strategy, QuickSelect):
        return
    whole = strategy.whole_queries([len(item.candidates) for item in items], top_k)
    if not whole:
        return
    comparisons = sum(n * (n - 1) // 2 for n in whole)
    prompts = comparisons * (2 if orders == "both" else 1)
    size_name = strategy.allpairs_size or "2 x top-k"
    print(
        f"note: quickselect orders {len(whole)} of {len(items)} queries all-pairs (those of at "
        f"most allpairs_size={size_name} candidates): {comparisons:,} comparisons, {prompts:,} "
        "prompts; with --depth above 2 x --top-k it selects instead",
        file=sys.stderr,
    )
