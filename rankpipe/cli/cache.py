"""`rankpipe cache stats|clear`: what the judgment cache holds, and emptying it."""

from __future__ import annotations

import argparse
from pathlib import Path

from rankpipe.cache import SQLiteCache, default_cache_path
from rankpipe.errors import InputError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("cache", help="inspect or clear the persistent judgment cache")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, helptext in (
        ("stats", "judgments stored, per judge"),
        ("clear", "delete stored judgments"),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument(
            "--cache", type=Path, default=None, help=f"cache file (default {default_cache_path()})"
        )
        if name == "clear":
            action.add_argument(
                "--judge",
                action="append",
                metavar="IDENTITY",
                help="delete only this judge identity's judgments (as `stats` prints it); "
                "repeatable",
            )
        action.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    path = args.cache or default_cache_path()
    if not path.is_file():
        raise InputError(f"{path}: no cache file there")
    cache = SQLiteCache(path)
    try:
        if args.action == "stats":
            rows = cache.stats()
            print(
                f"{path}: {sum(n for _, n in rows)} judgments, {path.stat().st_size / 1e6:.1f} MB"
            )
            for judge, count in rows:
                print(f"{count:>10}  {judge}")
        else:
            removed = cache.clear(args.judge)
            print(f"{path}: deleted {removed} judgments")
    finally:
        cache.close()
    return 0
