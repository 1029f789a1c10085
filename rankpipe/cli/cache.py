"""`rankpipe cache stats|check|clear|export`: what the judgment cache holds, whether every row is
sound, emptying it, and its judgments as a data set (Parquet, JSON lines, or a Hugging Face
`datasets` folder) with their identity and provenance."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from rankpipe.atomic import atomic_write, same_file
from rankpipe.cache import (
    SQLiteCache,
    default_cache_path,
    describe_default_cache,
    is_replaceable,
    remove_cache_file,
    stale_wal,
    stale_wal_error,
)
from rankpipe.errors import InputError

FORMATS = ("parquet", "jsonl", "dataset")
SHOWN_PROBLEMS = 20


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("cache", help="inspect, check, clear or export the judgment cache")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, helptext in (
        ("stats", "judgments stored, per judge (every row checked)"),
        ("check", "verify every row (checksum, value ranges, schema); exit 2 when any is damaged"),
        ("clear", "delete stored judgments"),
        ("export", "write the judgments with their provenance as Parquet, JSON lines or a Dataset"),
    ):
        action = actions.add_parser(name, help=helptext, description=helptext)
        action.add_argument(
            "--cache",
            type=Path,
            default=None,
            help=f"cache file (default {describe_default_cache()})",
        )
        if name == "clear":
            action.add_argument(
                "--judge",
                action="append",
                metavar="IDENTITY",
                help="delete only this judge identity's judgments (as `stats` prints it); "
                "repeatable. Without it a cache this version cannot read (older or damaged) is "
                "replaced by an empty one",
            )
        if name == "export":
            action.add_argument("--out", type=Path, required=True, metavar="PATH")
            action.add_argument(
                "--format",
                choices=FORMATS,
                default=None,
                help="parquet, jsonl, or dataset (a `datasets.Dataset.save_to_disk` folder); "
                "default from the file name (.parquet, .jsonl), else dataset",
            )
        action.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    path = args.cache or default_cache_path()
    if not path.is_file():
        raise InputError(f"{path}: no cache file there")
    if stale_wal(path):  # before SQLite opens it and copies the log into it
        raise stale_wal_error(path)
    if args.action == "clear" and not args.judge:
        return _clear_all(path)
    with SQLiteCache(path) as cache:
        if args.action == "stats":
            return _stats(cache)
        if args.action == "check":
            return _check(cache)
        if args.action == "export":
            return _export(cache, args.out, args.format or _format_of(args.out))
        removed = cache.clear(args.judge)
        print(f"{path}: deleted {removed} judgments")
    return 0


def _clear_all(path: Path) -> int:
    """Empty the cache; one this version cannot open is replaced when it is a rankpipe cache."""
    try:
        with SQLiteCache(path) as cache:
            removed = cache.clear()
    except InputError:
        if not is_replaceable(path):
            raise
        remove_cache_file(path)
        SQLiteCache(path).close()
        print(f"{path}: replaced an unreadable cache with an empty one")
        return 0
    print(f"{path}: deleted {removed} judgments")
    return 0


def _stats(cache: SQLiteCache) -> int:
    count, problems = cache.check()
    rows = cache.stats()
    print(f"{cache.path}: {count} judgments, {cache.path.stat().st_size / 1e6:.1f} MB")
    for judge, n in rows:
        print(f"{n:>10}  {judge}")
    if problems:
        raise InputError(
            f"{cache.path}: {len(problems)} problems found (not healthy); "
            f"`rankpipe cache check --cache {cache.path}` names them"
        )
    return 0


def _check(cache: SQLiteCache) -> int:
    count, problems = cache.check()
    for line in problems[:SHOWN_PROBLEMS]:
        print(f"{cache.path}: {line}")
    if len(problems) > SHOWN_PROBLEMS:
        print(f"{cache.path}: ... and {len(problems) - SHOWN_PROBLEMS} more")
    if problems:
        raise InputError(
            f"{cache.path}: {len(problems)} problems in {count} judgments; delete the damaged "
            f"judges' judgments with `rankpipe cache clear --cache {cache.path} --judge "
            f"IDENTITY`, or empty the cache with `rankpipe cache clear --cache {cache.path}`"
        )
    print(f"{cache.path}: {count} judgments, all sound (checksums, value ranges, schema)")
    return 0


def _format_of(out: Path) -> str:
    return {".parquet": "parquet", ".jsonl": "jsonl"}.get(out.suffix, "dataset")


def _export(cache: SQLiteCache, out: Path, form: str) -> int:
    for suffix in ("", "-wal", "-shm"):
        if same_file(out, f"{cache.path}{suffix}"):
            raise InputError(
                f"--out {out}: the same file as the cache {cache.path}{suffix}; exporting there "
                "would destroy the cache, so give another file name"
            )
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: the folder {out.parent} does not exist")
    if form != "dataset" and out.is_dir():
        raise InputError(f"--out {out}: is a folder; {form} is written to a file")
    if form == "dataset" and out.exists() and not (out / "state.json").is_file():
        what = "a file" if out.is_file() else "a folder that holds no saved Dataset"
        raise InputError(f"--out {out}: is {what}; choose a new folder name")
    frame = cache.to_pandas()
    if form == "parquet":
        with atomic_write(out, "wb") as handle:
            frame.to_parquet(handle, index=False)
    elif form == "jsonl":
        with atomic_write(out) as handle:
            frame.to_json(
                handle, orient="records", lines=True, date_format="iso", force_ascii=False
            )
    else:
        import datasets

        datasets.disable_progress_bars()
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        try:
            datasets.Dataset.from_pandas(frame, preserve_index=False).save_to_disk(str(staging))
            if out.exists():
                shutil.rmtree(out)  # an earlier export (it holds a saved Dataset)
            staging.rename(out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    print(f"{cache.path}: exported {len(frame)} judgments to {out} ({form})")
    return 0
