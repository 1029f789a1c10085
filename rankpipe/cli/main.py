"""The `rankpipe` command: one subcommand per module in rankpipe.cli.

Exit codes: 0 success, 2 bad input (a one-line message naming the file, line and expectation),
1 internal error (set RANKPIPE_DEBUG=1 for the traceback)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from rankpipe import __version__
from rankpipe.errors import InputError

SUBCOMMAND_MODULES = (
    "rankpipe.cli.rerank",
    "rankpipe.cli.evaluate",
    "rankpipe.cli.convert",
    "rankpipe.cli.cache",
    "rankpipe.cli.compare",
    "rankpipe.cli.retrieval",
)
"""Each module's `register(subparsers)` adds its subcommands, in this order."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rankpipe",
        description="Rerank and evaluate search results with LLM pairwise judgments.",
    )
    parser.add_argument("--version", action="version", version=f"rankpipe {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what happens (judge fallbacks, retries)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="rankpipe: %(levelname)s: %(message)s",
    )
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
