"""`rankpipe convert`: candidates file -> TREC run, or run + corpus + topics -> candidates file."""

from __future__ import annotations

import argparse

from rankpipe.cli.inputs import candidate_inputs, check_outputs, positive_int
from rankpipe.data.candidates import join_files, read_candidates, write_candidates
from rankpipe.data.trec import write_run
from rankpipe.data.types import run_from_candidates
from rankpipe.errors import InputError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "convert",
        help="convert between candidates files (JSONL with texts) and TREC runs",
        description="Either --candidates FILE --output RUN (to a TREC run), or "
        "--run RUN --corpus FILE --topics FILE --output FILE.jsonl (to a candidates file).",
    )
    parser.add_argument(
        "--candidates", metavar="FILE", help="RankGPT-style candidates (JSONL or JSON list)"
    )
    parser.add_argument("--run", metavar="RUN", help="a TREC run")
    parser.add_argument("--corpus", metavar="FILE", help="passages (TSV or JSONL), with --run")
    parser.add_argument("--topics", metavar="FILE", help="queries (TSV), with --run")
    parser.add_argument("--depth", type=positive_int, help="keep the top DEPTH per query")
    parser.add_argument(
        "--tag", default="rankpipe", help="run tag (last column) when writing a run"
    )
    parser.add_argument("--output", required=True, metavar="FILE", help="where to write")
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    if bool(args.candidates) == bool(args.run):
        raise InputError("give either --candidates FILE or --run RUN (with --corpus and --topics)")
    check_outputs(
        [(args.output, "--output")],
        inputs=candidate_inputs(args),
    )
    if args.candidates:
        items = [
            item.truncated(args.depth) if args.depth else item
            for item in read_candidates(args.candidates)
        ]
        write_run(run_from_candidates(items), args.output, tag=args.tag)
        lines = sum(len(i.candidates) for i in items)
        print(f"wrote {lines} lines for {len(items)} queries to {args.output}")
        return 0
    if not (args.corpus and args.topics):
        raise InputError("--run needs --corpus FILE and --topics FILE")
    items = join_files(args.run, args.corpus, args.topics, args.depth)
    write_candidates(items, args.output)
    print(f"wrote {len(items)} queries to {args.output}")
    return 0
