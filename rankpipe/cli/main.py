"""The `rankpipe` command: one subcommand per entry of COMMANDS.

Exit codes: 0 success, 2 bad input (a one-line message naming the file, line and expectation;
argparse's refusals too, without its usage block), 1 a failure that is not the input's (a judge
or server that failed for good, a file that cannot be written: disk full, a file-size limit) or an
internal error (set RANKPIPE_DEBUG=1 for the traceback), 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM, as `kill`, systemd, Kubernetes and batch schedulers send it).

SIGTERM is handled as Ctrl-C is: a `Terminated` exception (a KeyboardInterrupt) is raised in the
main thread, so every path that saves finished work on Ctrl-C (the executor commits the pending
answers to the cache; outputs are written through a temporary file and renamed, so none is left
half-written) does so on SIGTERM too.

Only the module of the command being run is imported (the others are listed by name and help), so
`rankpipe --help` answers without loading torch, transformers, pandas or ir-measures. To add a
command, give its name, module and one-line help in COMMANDS; the module's `register(subparsers)`
adds it with its options (tests/test_cli.py checks that the help here and there agree)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Collection, Iterator, Sequence
from typing import NoReturn

from rankpipe import __version__
from rankpipe.errors import InputError, JudgeError

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
    "serve": (
        "rankpipe.cli.serve",
        "serve reranking over HTTP (the Cohere/Jina/vLLM rerank API), batching across requests",
    ),
}
"""command -> (the module that registers it, its one-line help). Commands of one module stay
together, in the order the module registers them."""

TOP_LEVEL_FLAGS = ("-v", "--verbose")


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: raised in the main thread, handled wherever Ctrl-C is."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a refused argument is one line (`rankpipe rerank: error: argument --depth:
    must be at least 1, got 0`), as every other error of the CLI is; `--help` shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises Terminated in the main thread (elsewhere a signal handler
    cannot be installed, and the default stays)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser(load: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The `rankpipe` parser. The commands in `load` (all when None) come with their options,
    which imports their modules; the others are listed by name and help only."""
    parser = OneLineParser(
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
    # urllib3 logs each retry as `Retrying (CountedRetry(total=2, ...))`: the openai judge says
    # what it retries in its own words (with --verbose), so urllib3's lines are for --verbose only
    logging.getLogger("urllib3").setLevel(logging.WARNING if args.verbose else logging.ERROR)
    try:
        with sigterm_as_interrupt():
            return int(args.handler(args) or 0)
    except InputError as error:
        print(f"rankpipe {args.command}: error: {error}", file=sys.stderr)
        return 2
    except JudgeError as error:
        _judge_failed(args, error)
        return 1
    except BrokenPipeError:  # the reader (e.g. `| head`) went away: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Terminated:
        print(f"rankpipe {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"rankpipe {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # a file that could not be written (disk full, a size limit)
        if error.filename is None:
            return _internal_error(args.command, error)
        print(
            f"rankpipe {args.command}: error: {error.filename}: {error.strerror or error}",
            file=sys.stderr,
        )
        return 1
    except Exception as error:  # an internal failure: say what, keep the traceback for debugging
        return _internal_error(args.command, error)


def _judge_failed(args: argparse.Namespace, error: JudgeError) -> None:
    """A judge that failed for good: what happened, and where the finished judgments are (the
    executor cached each batch as it returned, so rerunning resumes)."""
    where = "lost (--no-cache)"
    if not getattr(args, "no_cache", True):
        from rankpipe.cli.inputs import cache_path

        where = f"cached in {cache_path(args)}; rerun the same command to resume"
    print(
        f"rankpipe {args.command}: judge failed: {error}\n"
        f"  judgments finished before the failure are {where}",
        file=sys.stderr,
    )


def _internal_error(command: str, error: Exception) -> int:
    if os.environ.get("RANKPIPE_DEBUG"):
        traceback.print_exception(error)
    print(f"rankpipe {command}: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
