"""Shared CLI options: where candidates come from, where judgments are cached; typed option values
checked by argparse before anything is loaded, and pre-flight checks of the outputs."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rankpipe.atomic import check_writable
from rankpipe.cache import default_cache_path
from rankpipe.data.candidates import join_candidates, read_candidates
from rankpipe.data.corpus import read_corpus
from rankpipe.data.datasets import load_dataset
from rankpipe.data.topics import read_topics
from rankpipe.data.trec import read_qrels, read_run
from rankpipe.data.types import Qrels, QueryCandidates
from rankpipe.errors import InputError


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


def join_files(run: str, corpus: str, topics: str, depth: int | None) -> list[QueryCandidates]:
    """Join a TREC run file with its passage and query texts; a join error names the files."""
    ranking, passages, queries = read_run(run), read_corpus(corpus), read_topics(topics)
    try:
        return join_candidates(ranking, passages, queries, depth)
    except InputError as error:
        raise InputError(f"{error} (run {run}, corpus {corpus}, topics {topics})") from None


def add_cache_arguments(parser: argparse.ArgumentParser, no_cache_help: str) -> None:
    """--cache FILE, or --no-cache to keep judgments in memory."""
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache",
        type=Path,
        metavar="FILE",
        help=f"judgment cache (default {default_cache_path()})",
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


def check_outputs(outputs: Sequence[tuple[str | Path | None, str]]) -> None:
    """Pre-flight: every (path, option) can be written and no two options name the same file;
    raises InputError naming the first that cannot, before any judging is paid for."""
    seen: dict[Path, str] = {}
    for path, option in outputs:
        if path is None:
            continue
        check_writable(path, option)
        resolved = Path(path).resolve()
        if resolved in seen:
            raise InputError(f"{option} {path}: the same file as {seen[resolved]}")
        seen[resolved] = option


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
