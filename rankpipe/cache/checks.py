"""Whether what the cache reads can be trusted, and what to tell the user when it cannot.

Every row read is checked (checksum, value ranges); a row that fails, a foreign or older schema,
or a file SQLite calls malformed is an InputError naming the file and how to recover. Nothing is
silently recomputed or silently served. Another program's SQLite file is never called an older
rankpipe cache (whose `judgments` table had exactly the columns key, value, judge), so the advice
to clear it is never given for it, and it is read only, by its header first, before anything
could switch it to WAL mode.

A log left beside a replaced cache file by a process killed before it noticed is recognised by
`stale_wal()` (`rankpipe cache check` runs it), which says how to move it aside; `is_replaceable`
says whether `cache clear` may replace a file it cannot open, and `remove_cache_file` deletes one
with its log."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rankpipe.cache.codec import APPLICATION_ID, CODECS, SCHEMA_VERSION, Entry, decode_row
from rankpipe.cache.keys import row_checksum
from rankpipe.errors import InputError
from rankpipe.forms import FORMS, form_of

_PAIR: Any = FORMS["pair"].judgment
"""The common case, checked first and quickly."""

OLDER_COLUMNS = ["key", "value", "judge"]
"""The `judgments` table of schema 1, the only older rankpipe cache."""


# --- entries and rows ------------------------------------------------------------------------


def check_entry(entry: Entry) -> str | None:
    """What is wrong with an entry's values (None when nothing): its judgment of the form its kind
    names, and the form's codec's ranges and shapes."""
    judgment: Any = entry.judgment
    n = len(entry.docids)
    if (  # the common case, quickly: a sound pairwise answer
        type(judgment) is _PAIR
        and entry.kind == "pair"
        and n == 2
        and type(judgment.p_a) is float
        and 0.0 <= judgment.p_a <= 1.0
        and type(judgment.prompt_tokens) is int
        and type(judgment.completion_tokens) is int
        and judgment.prompt_tokens >= 0
        and judgment.completion_tokens >= 0
        and type(entry.attempts) is int
        and entry.attempts >= 1
        and type(entry.qid) is str
        and type(entry.docids[0]) is str
        and type(entry.docids[1]) is str
    ):
        return None
    codec = CODECS.get(entry.kind)
    if codec is None:
        return f"unknown kind {entry.kind!r}"
    if type(judgment) is not codec.form.judgment:
        try:
            style = f"a {form_of(judgment).style} answer"
        except TypeError:
            style = f"a {type(judgment).__name__} (no form's judgment)"
        return f"{style} stored as {entry.kind}"
    if not isinstance(entry.qid, str) or not all(isinstance(d, str) for d in entry.docids):
        return "qid or docids are not strings"
    for name in ("prompt_tokens", "completion_tokens"):
        count = getattr(judgment, name, None)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return f"{name} {count!r} is not a non-negative integer"
    if not isinstance(entry.attempts, int) or entry.attempts < 1:
        return f"attempts {entry.attempts!r} is not a positive integer"
    return codec.check(judgment, n)


def read_row(row: Sequence[Any], identity: str | None) -> Entry | str:
    """The entry a stored row holds, or what is wrong with it: its judge, checksum and values."""
    if identity is None:
        return f"judge id {row[1]!r} is not in the judges table"
    if row[12] != row_checksum(identity, row):
        return "checksum mismatch (the row was altered after it was written)"
    entry = decode_row(row)
    if isinstance(entry, str):
        return entry
    return check_entry(entry) or entry


def bad_row_error(path: Path, row: Sequence[Any], identity: str | None, problem: str) -> InputError:
    """The error for a damaged row: which row, what is wrong, and how to recover."""
    recover = (
        f"delete that judge's judgments with `rankpipe cache clear --cache {path} "
        f"--judge '{identity}'`"
        if identity is not None
        else f"empty the cache with `rankpipe cache clear --cache {path}`"
    )
    return InputError(
        f"{path}: damaged judgment (key {bytes(row[0]).hex()}, judge "
        f"{identity or row[1]}, {row[2]} {row[3]}): {problem}; {recover}, or delete the "
        f"file (`rankpipe cache check --cache {path}` lists every damaged row)"
    )


def row_problem(row: Sequence[Any], identity: str | None, problem: str) -> str:
    """One line of `cache check` for a damaged row."""
    return f"key {bytes(row[0]).hex()} (judge {identity or row[1]}, {row[2]} {row[3]}): {problem}"


# --- the file ----------------------------------------------------------------------------------


def damaged_error(path: Path, message: str) -> InputError:
    """The error for a file SQLite cannot read (`message` is SQLite's)."""
    if "not a database" in message and not is_replaceable(path):
        return InputError(
            f"{path}: not a rankpipe judgment cache (not an SQLite file): choose another "
            "--cache file"
        )
    if stale_wal(path):
        return stale_wal_error(path)
    return InputError(
        f"{path}: the cache file is damaged ({message}): empty it with "
        f"`rankpipe cache clear --cache {path}` (its judgments are lost) or delete it"
    )


def refuse_foreign_file(path: Path) -> None:
    """Refuse an SQLite file that is not a rankpipe cache before opening it to write (which
    would switch it to WAL mode, changing another program's file): read-only, by its
    header's application id first."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError:
        return  # a missing file is created; an unreadable one is named when opened
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return
    if int.from_bytes(header[68:72], "big") == APPLICATION_ID:
        return
    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db,
    ):
        tables, application, version = schema_marks(db)
        if tables or application != 0:
            refuse_foreign(path, db, tables, application, version)


def refuse_foreign(
    path: Path, db: sqlite3.Connection, tables: set[str], application: int, version: int
) -> None:
    """InputError for a database that is not a cache of this version's schema."""
    if application != APPLICATION_ID:
        if application == 0 and version == 0 and _older_schema(db):
            raise InputError(
                f"{path}: a judgment cache of an older rankpipe (schema 1), which this "
                f"version cannot trust (ambiguous keys, no checksums): empty it with "
                f"`rankpipe cache clear --cache {path}` or delete it"
            )
        raise InputError(
            f"{path}: not a rankpipe judgment cache (an SQLite database holding "
            f"{', '.join(sorted(tables)) or 'no tables'}): choose another --cache file"
        )
    if version != SCHEMA_VERSION:
        raise InputError(
            f"{path}: a rankpipe cache of schema {version}, this version reads schema "
            f"{SCHEMA_VERSION}: empty it with `rankpipe cache clear --cache {path}` or "
            f"delete it"
        )


def schema_marks(db: sqlite3.Connection) -> tuple[set[str], int, int]:
    """(table names, application id, user version) of a database."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    application = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    return tables, application, version


def _older_schema(db: sqlite3.Connection) -> bool:
    """Whether an unmarked SQLite file is an older rankpipe cache (its `judgments` table has the
    columns of schema 1), not another program's file that happens to have such a table."""
    return [r[1] for r in db.execute("PRAGMA table_info(judgments)")] == OLDER_COLUMNS


def is_replaceable(path: Path) -> bool:
    """Whether `cache clear` may replace a file it cannot open: a rankpipe cache (by its
    application id), an older rankpipe cache, or an empty file; never another program's data."""
    with open(path, "rb") as handle:
        header = handle.read(100)
    if not header:
        return True
    if not header.startswith(b"SQLite format 3\x00") or len(header) < 100:
        return False
    application = int.from_bytes(header[68:72], "big")
    if application == APPLICATION_ID:
        return True
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            columns = [r[1] for r in db.execute("PRAGMA table_info(judgments)")]
    except sqlite3.DatabaseError:
        return False
    return application == 0 and columns == OLDER_COLUMNS


def file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None when there is none."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def stale_wal(path: str | Path) -> bool:
    """Whether the write-ahead log beside `path` belongs to another file: read with it, the cache
    is malformed; read alone (SQLite's `immutable`, which ignores the log and writes nothing),
    it is sound. That is what a process leaves when its cache file is replaced under it and it is
    killed before it notices. Reads the file twice (quick_check) when a log is there; writes
    nothing, so the log is never copied into the file."""
    wal = Path(f"{path}-wal")
    try:
        if wal.stat().st_size == 0:
            return False
    except OSError:
        return False
    uri = Path(path).resolve().as_uri()
    if _quick_check(f"{uri}?mode=ro"):
        return False
    return _quick_check(f"{uri}?immutable=1")


def stale_wal_error(path: str | Path) -> InputError:
    return InputError(
        f"{path}: its write-ahead log {path}-wal belongs to an earlier file at this path (a "
        "process was using that file when this one was moved or copied over it); the file alone "
        f"is sound. Move the log aside, then check again: `mv {path}-wal {path}-wal.stale && "
        f"rm -f {path}-shm && rankpipe cache check --cache {path}`"
    )


def _quick_check(uri: str) -> bool:
    """Whether SQLite reads the database at `uri` as sound (no writes: ro or immutable URIs)."""
    try:
        db = sqlite3.connect(uri, uri=True, timeout=5)
    except sqlite3.Error:
        return False
    try:
        return [r[0] for r in db.execute("PRAGMA quick_check")] == ["ok"]
    except sqlite3.DatabaseError as error:
        return "locked" in str(error) or "busy" in str(error)  # in use: not a stale log
    finally:
        db.close()


def remove_cache_file(path: Path) -> None:
    """Delete a cache file with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
