"""Shared CLI options: where candidates come from, where judgments are cached; typed option values
checked by argparse before anything is loaded, and pre-flight checks of the outputs."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from rankpipe.atomic import check_writable, is_stream, same_file
from rankpipe.cache import default_cache_path, describe_default_cache
from rankpipe.data.candidates import join_files, read_candidates
from rankpipe.data.datasets import load_dataset
from rankpipe.data.trec import read_qrels
from rankpipe.data.types import Qrels, QueryCandidates
from rankpipe.errors import InputError
from rankpipe.judges.spec import parse_spec


def add_candidate_arguments(parser: argparse.ArgumentParser, qrels: bool = True) -> None:
    group = parser.add_argument_group(
        "candidates (one of: --candidates, --run with --corpus and --topics, --dataset)"
    )
    group.add_argument(
        "--candidates", metavar="FILE", help="RankGPT-style JSONL: one query with its hits per line"
    )
    group.add_argument(
        "--run", metavar="RUN", help="a TREC run to rerank (needs --corpus and --topics)"
    )
    group.add_argument("--corpus", metavar="FILE", help="passages: TSV docid<TAB>text or JSONL")
    group.add_argument("--topics", metavar="FILE", help="queries: TSV qid<TAB>text")
    group.add_argument(
        "--dataset",
        metavar="NAME",
        help="demo, dl19, dl19/contriever, noveleval, or an ir_datasets ID",
    )
    group.add_argument(
        "--depth",
        type=positive_int,
        default=100,
        help="candidates per query to rerank (default 100)",
    )
    if qrels:
        group.add_argument(
            "--qrels", metavar="FILE", help="relevance labels (a --dataset brings its own)"
        )


def load_candidates(args: argparse.Namespace) -> tuple[list[QueryCandidates], Qrels | None]:
    """The candidates the arguments name (top --depth per query) and the qrels, if any."""
    sources = [bool(args.candidates), bool(args.run), bool(args.dataset)]
    if sum(sources) != 1:
        raise InputError(
            "give exactly one of --candidates FILE, --run RUN (with --corpus, --topics), "
            "--dataset NAME"
        )
    qrels = read_qrels(args.qrels) if getattr(args, "qrels", None) else None
    if args.dataset:
        dataset = load_dataset(args.dataset, args.depth)
        return dataset.candidates, qrels if qrels is not None else dataset.qrels
    if args.candidates:
        items = [item.truncated(args.depth) for item in read_candidates(args.candidates)]
        return items, qrels
    if not (args.corpus and args.topics):
        raise InputError("--run needs --corpus FILE and --topics FILE to find the texts")
    return join_files(args.run, args.corpus, args.topics, args.depth), qrels


def add_cache_arguments(parser: argparse.ArgumentParser, no_cache_help: str) -> None:
    """--cache FILE, or --no-cache to keep judgments in memory."""
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache",
        type=Path,
        metavar="FILE",
        help=f"judgment cache (default {describe_default_cache()})",
    )
    cache.add_argument("--no-cache", action="store_true", help=no_cache_help)


def cache_path(args: argparse.Namespace) -> Path | None:
    """The judgment cache file the arguments name (--cache, else the default); None with
    --no-cache."""
    return None if args.no_cache else (args.cache or default_cache_path())


def show_progress() -> bool:
    """Progress bars when a person watches (stderr is a terminal)."""
    return sys.stderr.isatty()


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1 (`--top-k 0` is refused before any work)."""
    return _integer(text, 1)


def non_negative_int(text: str) -> int:
    return _integer(text, 0)


def _integer(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def finite_float(
    minimum: float | None = None, maximum: float | None = None
) -> Callable[[str], float]:
    """An argparse type: a finite number, within [minimum, maximum] when given."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {text}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:g}, got {text}")
        return value

    return parse


STDOUT = "-"
"""An output path that means standard output, where a command allows it."""

Paths = Sequence[tuple[str | Path | None, str]]
"""(path or None, the option that gave it)"""


def check_outputs(outputs: Paths, inputs: Paths = (), stdout: Collection[str] = ()) -> None:
    """Pre-flight, before any judging is paid for: every (path, option) of `outputs` can be
    written, no two options name the same file, and no output is one of the `inputs` (by resolved
    path or by device and inode: through symbolic and hard links), which writing would destroy.
    `-` is standard output for the options in `stdout` and refused for the others. Raises
    InputError naming both options and both paths."""
    seen: list[tuple[str | Path, str]] = []
    given = [(path, option) for path, option in inputs if path is not None]
    for path, option in outputs:
        if path is None:
            continue
        if str(path) == STDOUT:
            if option not in stdout:
                raise InputError(
                    f"{option} -: this option cannot write to standard output; give a file name"
                )
            continue
        check_writable(path, option)
        if is_stream(path):  # a device or pipe (/dev/stdout): writing it destroys no file
            continue
        for other, other_option in given:
            if same_file(path, other):
                raise InputError(
                    f"{option} {path}: the same file as the input {other_option} {other}; "
                    "writing it would destroy that input, so give another file name"
                )
        for other, other_option in seen:
            if same_file(path, other):
                raise InputError(f"{option} {path}: the same file as {other_option}")
        seen.append((path, option))


def candidate_inputs(args: argparse.Namespace) -> list[tuple[str | None, str]]:
    """The input files the candidate options name, with their options (None when not given)."""
    options = ("candidates", "run", "corpus", "topics", "qrels")
    return [(getattr(args, name, None), f"--{name}") for name in options]


def judge_inputs(spec: str) -> list[tuple[str | None, str]]:
    """The files a judge spec reads (`sim:qrels=FILE`), with the option that names them."""
    try:
        parsed = parse_spec(spec)
    except InputError:
        return []  # refused, with its own message, when the judge is made
    return [(parsed.options.get("qrels"), "--judge qrels=")]


def check_qrels_cover(items: Sequence[QueryCandidates], qrels: Qrels | None, source: str) -> None:
    """With qrels, the queries to rerank must be judged in them: none -> InputError (the wrong
    file, or query ids spelt differently); some -> a note with the counts."""
    if not qrels:
        return
    qids = [item.query.qid for item in items]
    judged = [qid for qid in qids if qid in qrels]
    if not judged:
        shown = ", ".join(qids[:3]) + (", ..." if len(qids) > 3 else "")
        known = ", ".join(list(qrels)[:3]) + (", ..." if len(qrels) > 3 else "")
        raise InputError(
            f"{source}: none of the {len(qids)} queries ({shown}) is in the qrels "
            f"({len(qrels)} queries: {known})"
        )
    if len(judged) < len(qids):
        print(
            f"note: {len(qids) - len(judged)} of {len(qids)} queries have no qrels; "
            f"effectiveness is reported over the {len(judged)} judged ones",
            file=sys.stderr,
        )
