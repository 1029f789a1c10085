"""`rankpipe evaluate`: TREC metrics of one or more runs, with paired t-tests against the first."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from rankpipe.atomic import atomic_write
from rankpipe.cli.inputs import check_outputs
from rankpipe.data.trec import read_qrels
from rankpipe.evaluation.metrics import DEFAULT_METRICS, Evaluation, evaluate
from rankpipe.evaluation.significance import paired_t_tests


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="TREC metrics of runs (ir-measures), with significance tests",
        description="Evaluate TREC runs. Binary measures count grade >= 2 as relevant "
        "(TREC DL passage convention) in the default set; with two or more runs, each is "
        "t-tested against the first (paired, two-sided, Holm-corrected per metric).",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="TREC run files")
    parser.add_argument(
        "--qrels", required=True, metavar="FILE", help="TREC qrels (qid 0 docid grade)"
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=list(DEFAULT_METRICS),
        metavar="M",
        help=f"ir-measures names (default: {' '.join(DEFAULT_METRICS)})",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object: run -> metric -> value"
    )
    parser.add_argument(
        "--per-query", metavar="FILE.csv", help="write per-query values (run, qid, metrics...)"
    )
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    check_outputs(
        [(args.per_query, "--per-query")],
        inputs=[(args.qrels, "--qrels"), *((run, "RUN") for run in args.runs)],
    )
    read_qrels(args.qrels)  # a bad qrels file is named before any run is read
    results = {path: evaluate(path, args.qrels, args.metrics) for path in args.runs}
    names = list(next(iter(results.values())).aggregate)
    for path, result in results.items():
        _warn_coverage(path, result)
    if args.per_query:
        with atomic_write(args.per_query) as out:
            writer = csv.writer(out)
            writer.writerow(["run", "qid", *names])
            for path, result in results.items():
                for qid, values in result.per_query.items():
                    writer.writerow([path, qid, *(f"{values[n]:.6f}" for n in names)])
    tests = (
        paired_t_tests({p: r.per_query for p, r in results.items()}, args.runs[0], names)
        if len(results) > 1
        else []
    )
    if args.json:
        print(json.dumps({p: r.aggregate for p, r in results.items()}, indent=1))
        return 0
    width = max(len(p) for p in results)
    print(f"{'run':<{width}}  " + "  ".join(f"{n:>14}" for n in names))
    significant = {(t.system, t.metric) for t in tests if t.p_holm < 0.05}
    for path, result in results.items():
        cells = [
            f"{result.aggregate[n]:.4f}{'*' if (path, n) in significant else ' '}" for n in names
        ]
        print(f"{path:<{width}}  " + "  ".join(f"{c:>14}" for c in cells))
    if tests:
        print(f"\n* p < 0.05 against {args.runs[0]} (paired t-test, Holm-corrected per metric)")
        for t in tests:
            print(
                f"  {t.system}  {t.metric}: diff {t.mean_difference:+.4f}, p {t.p_value:.4g}, "
                f"Holm p {t.p_holm:.4g} ({t.queries} queries)"
            )
    return 0


def _warn_coverage(path: str, result: Evaluation) -> None:
    if result.unjudged_queries:
        shown = ", ".join(result.unjudged_queries[:5])
        more = ", ..." if len(result.unjudged_queries) > 5 else ""
        print(
            f"note: {path}: {len(result.unjudged_queries)} queries have no qrels and are not "
            f"evaluated ({shown}{more})",
            file=sys.stderr,
        )
    if result.missing_queries:
        print(
            f"note: {path}: {len(result.missing_queries)} judged queries are absent from the run "
            "and count as 0 (as ir-measures does)",
            file=sys.stderr,
        )
