"""The `rankpipe` command: one subcommand per entry of COMMANDS.

Exit codes: 0 success, 2 bad input (a one-line message naming the file, line and expectation),
1 internal error (set RANKPIPE_DEBUG=1 for the traceback).

Only the module of the command being run is imported (the others are listed by name and help), so
`rankpipe --help` answers without loading torch, transformers, pandas or ir-measures. To add a
command, give its name, module and one-line help in COMMANDS; the module's `register(subparsers)`
adds it with its options (tests/test_cli.py checks that the help here and there agree)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Collection, Sequence

from rankpipe import __version__
from rankpipe.errors import InputError

COMMANDS: dict[str, tuple[str, str]] = {
    "rerank": (
        "rankpipe.cli.rerank",
        "rerank candidates with a pairwise (or listwise) judge and a strategy",
    ),
    "evaluate": (
        "rankpipe.cli.evaluate",
        "TREC metrics of runs (ir-measures), with significance tests",
    ),
    "convert": (
        "rankpipe.cli.convert",
        "convert between candidates files (JSONL with texts) and TREC runs",
    ),
    "cache": ("rankpipe.cli.cache", "inspect, check, clear or export the judgment cache"),
    "compare": (
        "rankpipe.cli.compare",
        "compare strategies by effectiveness and inference cost (batching, caching)",
    ),
    "plan": (
        "rankpipe.cli.compare",
        "recommend the strategy with the best nDCG@10 within a budget, from a compare run",
    ),
    "index": (
        "rankpipe.cli.retrieval",
        "index a corpus for first-stage retrieval (BM25 or a dense bi-encoder)",
    ),
    "retrieve": (
        "rankpipe.cli.retrieval",
        "retrieve the top k passages of an index for each query; writes a TREC run",
    ),
    "fuse": ("rankpipe.cli.retrieval", "fuse TREC runs by reciprocal rank fusion"),
    "distill": (
        "rankpipe.cli.distill",
        "distill a judge's pairwise preferences into a dense retriever (PairDistill)",
    ),
}
"""command -> (the module that registers it, its one-line help). Commands of one module stay
together, in the order the module registers them."""

TOP_LEVEL_FLAGS = ("-v", "--verbose")


def build_parser(load: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The `rankpipe` parser. The commands in `load` (all when None) come with their options,
    which imports their modules; the others are listed by name and help only."""
    parser = argparse.ArgumentParser(
        prog="rankpipe",
        description="Rerank and evaluate search results with LLM pairwise judgments.",
    )
    parser.add_argument("--version", action="version", version=f"rankpipe {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what happens (judge fallbacks, retries)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {COMMANDS[name][0] for name in (COMMANDS if load is None else load)}
    registered: set[str] = set()
    for name, (module, help_text) in COMMANDS.items():
        if module in modules:
            if module not in registered:
                importlib.import_module(module).register(commands)
                registered.add(module)
        else:
            commands.add_parser(name, help=help_text, add_help=False)
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The command `argv` names (its first word that is not a top-level flag), if it is one."""
    for word in argv:
        if word in TOP_LEVEL_FLAGS:
            continue
        return word if word in COMMANDS else None
    return None


def quiet_third_party_progress() -> None:
    """No progress bars from huggingface_hub, transformers or datasets (model downloads and
    loading) when stderr is not a terminal: in a log file they are noise."""
    if sys.stderr.isatty():
        return
    for variable in ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(variable, "1")
    if "huggingface_hub" in sys.modules:  # read the variable at import: tell it directly
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_of(argv)
    parser = build_parser([command] if command else [])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="rankpipe: %(levelname)s: %(message)s",
    )
    quiet_third_party_progress()
    try:
        return int(args.handler(args) or 0)
    except InputError as error:
        print(f"rankpipe {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (e.g. `| head`) went away: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except KeyboardInterrupt:
        print(f"rankpipe {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # an internal failure: say what, keep the traceback for debugging
        if os.environ.get("RANKPIPE_DEBUG"):
            traceback.print_exc()
        print(
            f"rankpipe {args.command}: internal error: {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
