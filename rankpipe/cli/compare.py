"""`rankpipe compare`: run several strategies over one shared cache and report effectiveness
against inference cost at several batch sizes; `rankpipe plan`: pick a strategy under a budget
from that report."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

from rankpipe.atomic import check_writable
from rankpipe.cache import Cache, MemoryCache, open_cache
from rankpipe.cli.inputs import (
    add_cache_arguments,
    add_candidate_arguments,
    cache_path,
    candidate_inputs,
    check_outputs,
    judge_inputs,
    load_candidates,
    show_progress,
)
from rankpipe.compare.experiment import Configuration, run_experiment
from rankpipe.compare.planner import UNITS, Budget, load_comparison, make_plan
from rankpipe.compare.report import RESULTS_FILE, cost_batch_size, write_report
from rankpipe.compare.summary import summarize
from rankpipe.compare.timecost import DEVICE_FIGURES, TimeCostModel, load_cost_model
from rankpipe.errors import InputError
from rankpipe.executor import ORDERS
from rankpipe.judges.spec import make_judge
from rankpipe.strategies.registry import make_strategy

DEFAULT_STRATEGIES = "heapsort,quickselect,sliding,allpairs,tournament,mergesort,sparse,jointrank"
DEFAULT_BATCH_SIZES = "1,2,8,32,128"


def register(commands: argparse._SubParsersAction) -> None:
    _register_compare(commands)
    _register_plan(commands)


def _register_compare(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare strategies by effectiveness and inference cost (batching, caching)",
        description="Rerank the same candidates with several strategies sharing one judgment "
        "cache, then report per strategy the TREC metrics (paired t-tests against the best), the "
        "stand-alone cost per query (comparisons, prompts, rounds, tokens, and LLM calls at each "
        "batch size with and without a cache, after Wisznia et al. 2025), predicted and measured "
        "time, estimated GPU-seconds and latency from tokens (--cost-model), and what the "
        "comparison actually spent. Writes compare.md, compare.csv, compare.json, pareto.png, "
        "calls_by_batch_size.png, pareto_tokens_time.png, timecost.json (the time model fitted "
        "on this judge's calls) and each strategy's run and cost ledger into --out.",
    )
    add_candidate_arguments(compare)
    compare.add_argument(
        "--max-queries", type=int, metavar="N", help="compare on the first N queries only"
    )
    compare.add_argument(
        "--judge",
        required=True,
        metavar="SPEC",
        help="hf:MODEL | vllm:MODEL | openai:MODEL@URL | embed:MODEL | sim:noise=P,...",
    )
    compare.add_argument(
        "--strategies",
        metavar="NAMES",
        help=f"comma-separated strategy names (default {DEFAULT_STRATEGIES}, "
        "unless --strategy is given)",
    )
    compare.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="SPEC",
        help="a strategy with options, e.g. sparse:sampler=random,budget=4 (repeatable)",
    )
    compare.add_argument(
        "--orders",
        default="both",
        metavar="both|one|one,both",
        help="run each strategy with both prompt orders, one, or each in turn (default both)",
    )
    compare.add_argument(
        "--top-k", type=int, default=10, help="positions the strategies decide (default 10)"
    )
    compare.add_argument(
        "--batch-sizes",
        default=DEFAULT_BATCH_SIZES,
        metavar="B,B,...",
        help=f"batch sizes to cost (default {DEFAULT_BATCH_SIZES})",
    )
    compare.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="prompts per judge call in the measured runs (default 32)",
    )
    add_cost_model_argument(compare, "the model fitted on this comparison's judge calls")
    add_cache_arguments(compare, no_cache_help="share judgments in memory only")
    compare.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="folder for the report"
    )
    compare.set_defaults(handler=run_compare)


def _register_plan(commands: argparse._SubParsersAction) -> None:
    plan = commands.add_parser(
        "plan",
        help="recommend the strategy with the best nDCG@10 within a budget, from a compare run",
        description="Read what `rankpipe compare` wrote into DIR and recommend the compared "
        "strategy with the best primary metric (nDCG@10) whose stand-alone cost per query (mean "
        "over the compared queries) fits the budget. Exits 2 when DIR holds no comparison or "
        "nothing fits.",
    )
    plan.add_argument(
        "folder", type=Path, metavar="DIR", help="the --out folder of rankpipe compare"
    )
    budget = plan.add_mutually_exclusive_group(required=True)
    budget.add_argument(
        "--budget-calls", type=float, metavar="N", help="LLM calls per query at --batch-size"
    )
    budget.add_argument(
        "--budget-prompts", type=float, metavar="N", help="distinct prompts (inferences) per query"
    )
    budget.add_argument(
        "--budget-rounds", type=float, metavar="R", help="sequential rounds (latency) per query"
    )
    budget.add_argument(
        "--budget-seconds",
        type=float,
        metavar="S",
        help="estimated GPU-seconds per query at --batch-size (the time cost model's)",
    )
    budget.add_argument(
        "--budget-latency",
        type=float,
        metavar="S",
        help="estimated latency in seconds per query at --batch-size (the time cost model's)",
    )
    add_cost_model_argument(plan, "the one the comparison used")
    plan.add_argument(
        "--batch-size",
        type=int,
        metavar="B",
        help="prompts per LLM call (default: the batch size the comparison ran with)",
    )
    plan.set_defaults(handler=run_plan)


def add_cost_model_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--cost-model",
        metavar="SHAPE@DEVICE|FILE",
        help=f"time cost model for estimated seconds: {', '.join(DEVICE_FIGURES)}, or a JSON "
        f"file such as a comparison's timecost.json (default: {default})",
    )


def cost_model(text: str | None) -> TimeCostModel | None:
    return None if text is None else load_cost_model(text)


def configurations(args: argparse.Namespace) -> list[Configuration]:
    """The strategies and orders the arguments ask for, each checked before anything runs."""
    names = (
        args.strategies
        if args.strategies is not None
        else ("" if args.strategy else DEFAULT_STRATEGIES)
    )
    specs = [n.strip() for n in names.split(",") if n.strip()] + [s.strip() for s in args.strategy]
    if not specs:
        raise InputError("give strategies with --strategies NAME,NAME or --strategy SPEC")
    orders = [o.strip() for o in args.orders.split(",") if o.strip()]
    if not orders or any(o not in ORDERS for o in orders):
        raise InputError(f"--orders must be both, one, or one,both; got {args.orders!r}")
    for spec in specs:
        make_strategy(spec)
    result = [
        Configuration(spec, orders=o)  # type: ignore[arg-type]
        for spec in specs
        for o in dict.fromkeys(orders)
    ]
    labels = [c.label for c in result]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise InputError(f"strategy {repeated[0]!r} is given twice")
    return result


def batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise InputError(f"--batch-sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise InputError(f"--batch-sizes must be positive integers, got {text!r}")
    return sorted(set(sizes))


def source_arguments(args: argparse.Namespace) -> list[str]:
    """The candidate options as given, for the report and the command a plan prints."""
    words: list[str] = []
    for option in ("candidates", "run", "corpus", "topics", "dataset", "qrels"):
        value = getattr(args, option)
        if value:
            words += [f"--{option}", str(value)]
    return [*words, "--depth", str(args.depth)]


REPORT_FILES = (
    "compare.md",
    "compare.csv",
    RESULTS_FILE,
    "pareto.png",
    "calls_by_batch_size.png",
    "pareto_tokens_time.png",
    "timecost.json",
)
REPORT_FOLDERS = ("runs", "costs")
"""What `write_report` writes into --out: these files, and runs and ledgers in these folders."""


def _check_inputs_outside_report(args: argparse.Namespace) -> None:
    """No input (candidates, qrels, the cache) is a file the report would write over."""
    inputs = [*candidate_inputs(args), *judge_inputs(args.judge)]
    check_outputs([(cache_path(args), "--cache")], inputs=inputs)
    folder = args.out.resolve()
    for path, option in inputs:
        if path is None:
            continue
        resolved = Path(path).resolve()
        written = resolved.parent == folder and resolved.name in REPORT_FILES
        if written or any(folder / name in resolved.parents for name in REPORT_FOLDERS):
            raise InputError(
                f"--out {args.out}: the report would write over the input {option} {path}; "
                "give another folder"
            )


@contextlib.contextmanager
def _closing(opened: object) -> Iterator[None]:
    """Close what this command opened (the cache, the judge), whatever happens (on a judge error
    the CLI's handler says where the finished judgments are)."""
    try:
        yield
    finally:
        close = getattr(opened, "close", None)
        if close is not None:
            close()


def run_compare(args: argparse.Namespace) -> int:
    plan = configurations(args)
    sizes = batch_sizes(args.batch_sizes)
    model = cost_model(args.cost_model)
    check_writable(args.out / RESULTS_FILE, "--out")
    _check_inputs_outside_report(args)
    if args.batch_size < 1 or args.top_k < 1:
        raise InputError("--batch-size and --top-k must be at least 1")
    items, qrels = load_candidates(args)
    if args.max_queries is not None:
        if args.max_queries < 1:
            raise InputError(f"--max-queries must be at least 1, got {args.max_queries}")
        items = items[: args.max_queries]
    if not qrels:
        raise InputError(
            "compare needs relevance labels: give --qrels FILE (or a --dataset that has them)"
        )
    if not any(item.query.qid in qrels for item in items):
        raise InputError("none of the queries has relevance labels in the qrels given")
    judge = make_judge(args.judge, qrels)
    path = cache_path(args)
    cache: Cache = MemoryCache() if path is None else open_cache(path)
    with _closing(cache), _closing(judge):
        experiment = run_experiment(
            items,
            qrels,
            judge,
            plan,
            args.top_k,
            cache=cache,
            batch_size=args.batch_size,
            progress=show_progress(),
        )
    summary = summarize(experiment, sizes, model)
    written = write_report(
        experiment, summary, args.out, judge=args.judge, source=source_arguments(args)
    )
    primary = summary.primary
    at = cost_batch_size(experiment, summary)
    print(f"compared {len(plan)} configurations on {len(items)} queries with {args.judge}")
    print(
        f"  {'strategy':<36} {primary:>8}  "
        + "  ".join(f"{f'calls b={b}':>11}" for b in sizes)
        + f"  {'tokens':>9}  {f'est GPU-s b={at}':>14}  {f'est latency b={at}':>17}"
    )
    for row in summary.rows:
        calls = "  ".join(f"{row.cost.calls[b]:>11.1f}" for b in sizes)
        tokens = row.cost.prompt_tokens + row.cost.completion_tokens
        time = (
            f"{row.time[at].gpu_s:>14.3g}  {row.time[at].latency_s:>17.3g}"
            if row.time
            else f"{'n/a':>14}  {'n/a':>17}"
        )
        print(f"  {row.label:<36} {row.metrics[primary]:>8.4f}  {calls}  {tokens:>9,.0f}  {time}")
    if summary.cost_model is not None:
        print(f"estimated time per query (stand-alone): {summary.cost_model.describe()}")
    total = summary.total_spend()
    print(
        f"actually spent: {total.inferences:,} prompts in {total.judge_calls:,} judge calls, "
        f"{total.wall_s:.1f} s"
    )
    print(f"wrote {', '.join(str(p) for p in written)}")
    print(f"pick one under a budget: rankpipe plan {args.out} --budget-calls N [--batch-size B]")
    return 0


def run_plan(args: argparse.Namespace) -> int:
    comparison = load_comparison(args.folder)
    batch_size = (
        args.batch_size if args.batch_size is not None else int(comparison.record["batch_size"])
    )
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    kind, limit = next(
        (k, v)
        for k, v in (
            ("calls", args.budget_calls),
            ("prompts", args.budget_prompts),
            ("rounds", args.budget_rounds),
            ("seconds", args.budget_seconds),
            ("latency", args.budget_latency),
        )
        if v is not None
    )
    if limit < 0:
        raise InputError(f"a budget cannot be negative, got {limit:g}")
    budget = Budget(kind, limit, batch_size)  # type: ignore[arg-type]
    plan = make_plan(comparison, budget, cost_model(args.cost_model))
    primary, best = comparison.primary, plan.recommended
    record = comparison.record
    print(
        f"within {plan.budget.describe()} ({record['queries']} queries, judge {record['judge']}, "
        f"top-{record['top_k']}, compared in {args.folder}):"
    )
    print(
        f"  recommended: {best.label}: {primary} {best.value:.4f}; per query {best.calls:.1f} "
        f"LLM calls at batch size {batch_size}, {best.prompts:.1f} distinct prompts, "
        f"{best.rounds:.1f} rounds"
    )
    if plan.model is not None:
        print(
            f"  estimated: {best.gpu_s:.3g} GPU-seconds, {best.latency_s:.3g} s latency per query "
            f"({plan.model.name}; calibration: {plan.model.source})"
        )
    print(f"  run it: {plan.command}")
    print(f"options within the budget, best first ({UNITS[kind]} is what the budget caps):")
    calls = f"calls b={batch_size}"
    timed = plan.model is not None
    print(
        f"  {'strategy':<36} {'requests':>9} {primary:>8} {'p vs best':>10} {calls:>12} "
        f"{'prompts':>9} {'rounds':>8}"
        + (f" {'est GPU-s':>10} {'est latency':>12}" if timed else "")
    )
    for option in plan.fitting:
        p = (
            "best"
            if option.label == record["best"]
            else (f"{option.p_vs_best:.3g}" if option.p_vs_best is not None else "n/a")
        )
        print(
            f"  {option.label:<36} {option.requests:>9} {option.value:>8.4f} {p:>10} "
            f"{option.calls:>12.1f} "
            f"{option.prompts:>9.1f} {option.rounds:>8.1f}"
            + (f" {option.gpu_s:>10.3g} {option.latency_s:>12.3g}" if timed else "")
        )
    return 0
