"""Where judgments are kept: `SQLiteCache` (one file, shared by processes) and `MemoryCache`.

`SQLiteCache` keeps them in one SQLite file (WAL mode, busy timeout: several processes may write
at once), in the format of `codec` (keys from `keys`); every row read is checked by `checks`.

Two answers to one prompt: the first valid answer stored is kept, and a later different one (a
nondeterministic server, or two processes asking the same prompt at once) is dropped, so a key
always gives back what the first run that stored it saw; only an invalid answer is replaced by a
later attempt. To ask again, delete the judge's judgments (`rankpipe cache clear --judge ID`).

The file under the cache: its device and inode are noted at open, and checked before every read
and commit. A file replaced (an `mv` or copy over it) or removed while a process uses it stops that
process with an InputError saying so, before anything more is written: its write-ahead log is
first checkpointed into the old file and emptied, so neither file is left with the other's log.
Using a cache after `close()` raises ClosedError, never a claim that the file is damaged.

Writes: `put_many` commits at once when the last commit is at least `commit_every_s` old, else
with the next commit or `flush()` (the executor flushes after every wave and before an error
surfaces). A batch from a judge slower than that is thus committed as soon as it returns; cheap
batches (the simulated judge) share one transaction per second instead of one each, which is what
made the cache the bulk of an all-pairs run. A kill -9 loses at most that last second of answers
and never a committed one; SQLite's WAL keeps the file valid.

`MemoryCache` serves runs that keep nothing. Whoever opens a cache closes it: `open_cache` gives
one from a path, `opened_cache` does so for a `with` block and closes only what it opened."""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rankpipe.cache.checks import (
    bad_row_error,
    check_entry,
    damaged_error,
    file_id,
    read_row,
    refuse_foreign,
    refuse_foreign_file,
    row_problem,
    schema_marks,
)
from rankpipe.cache.codec import COLUMNS, FRAME_COLUMNS, SCHEMA, Entry, encode_row, frame_record
from rankpipe.errors import ClosedError, InputError

if TYPE_CHECKING:
    import pandas as pd


class Cache(Protocol):
    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Entry]:
        """The stored entries of those keys that are present (checked: a damaged one raises)."""
        ...

    def put_many(self, entries: Mapping[bytes, Entry], judge: str) -> None:
        """Store entries under keys for a judge identity; a valid answer is never replaced, an
        invalid one is replaced by a later attempt."""
        ...

    def flush(self) -> None:
        """Make everything put so far durable."""
        ...


class MemoryCache:
    """A cache that lives as long as the process."""

    def __init__(self) -> None:
        self._values: dict[bytes, Entry] = {}

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Entry]:
        return {k: self._values[k] for k in keys if k in self._values}

    def put_many(self, entries: Mapping[bytes, Entry], judge: str) -> None:
        for key, entry in entries.items():
            stored = self._values.get(key)
            if stored is None or not stored.valid:
                self._values[key] = entry

    def flush(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self._values)


class SQLiteCache:
    """A judgment cache in one SQLite file, shared safely by concurrent processes."""

    def __init__(
        self, path: str | Path, timeout_s: float = 60.0, commit_every_s: float = 1.0
    ) -> None:
        self.path = Path(path)
        self.commit_every_s = commit_every_s
        self._lock = threading.Lock()
        self._pending: dict[bytes, tuple[Entry, str, float]] = {}
        self._last_commit = -math.inf
        self._judge_ids: dict[str, int] = {}
        self._identities: dict[int, str] = {}
        self._closed = False
        self._lost: InputError | None = None
        """Set when the file was replaced or removed under this cache: every later use raises it."""
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory, not a cache file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(
                f"{self.path}: cannot create the cache file's folder ({error})"
            ) from None
        refuse_foreign_file(self.path)
        with self._translated():
            self._db = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False)
            _enable_wal(self._db, timeout_s)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages
            self._db.execute("PRAGMA wal_autocheckpoint=8192")  # 32 MiB of WAL between copies
            self._check_schema()
            self._load_judges()
        self._file_id = file_id(self.path)

    # --- the file under the cache ---------------------------------------------------------------

    def _check_usable(self) -> None:
        """Raise ClosedError after close(); InputError when the file was replaced or removed
        since it was opened (checkpointing this connection's log into the old file first)."""
        if self._closed:
            raise ClosedError(
                f"{self.path}: this judgment cache is closed (used after close() or after its "
                "with block); open it again"
            )
        if self._lost is not None:
            raise self._lost
        now = file_id(self.path)
        if now == self._file_id:
            return
        what = (
            "removed (or moved away)"
            if now is None
            else "replaced by another file (moved or copied over it)"
        )
        with contextlib.suppress(sqlite3.Error):  # the log into the old file, emptied
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        lost = len(self._pending)
        self._pending.clear()
        self._lost = InputError(
            f"{self.path}: the cache file was {what} while this process used it; it stopped "
            f"writing ({lost} answers not yet committed are not stored): rerun the same command "
            f"to go on with the file now at {self.path}"
        )
        raise self._lost

    # --- schema and errors ------------------------------------------------------------------

    def _check_schema(self) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")  # one process creates the schema, others see it
            tables, application, version = schema_marks(self._db)
            if not tables and application == 0:
                self._db.executescript(SCHEMA)  # commits the check's transaction first
                return
        refuse_foreign(self.path, self._db, tables, application, version)

    def _load_judges(self) -> None:
        for judge_id, identity in self._db.execute("SELECT id, identity FROM judges"):
            self._judge_ids[identity], self._identities[judge_id] = judge_id, identity

    def _judge_id(self, identity: str) -> int:
        if identity not in self._judge_ids:
            self._db.execute("INSERT OR IGNORE INTO judges (identity) VALUES (?)", (identity,))
            (judge_id,) = self._db.execute(
                "SELECT id FROM judges WHERE identity = ?", (identity,)
            ).fetchone()
            self._judge_ids[identity], self._identities[judge_id] = judge_id, identity
        return self._judge_ids[identity]

    def damaged(self, message: str) -> InputError:
        """The error for this file when SQLite cannot read it (`message` is SQLite's)."""
        return damaged_error(self.path, message)

    def _translated(self) -> _Translate:
        return _Translate(self)

    def _bad_row(self, row: Sequence[Any], problem: str) -> InputError:
        return bad_row_error(self.path, row, self._identities.get(row[1]), problem)

    # --- reading and writing ----------------------------------------------------------------

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Entry]:
        found: dict[bytes, Entry] = {}
        with self._lock, self._translated():
            self._check_usable()
            for key in keys:
                if key in self._pending:
                    waiting, _, created = self._pending[key]
                    found[key] = replace(waiting, created=waiting.created or created)
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT {COLUMNS} FROM judgments WHERE key IN ({marks})", chunk
                ).fetchall()
                if any(row[1] not in self._identities for row in rows):
                    self._load_judges()  # another process added a judge
                for row in rows:
                    if row[0] in found:
                        continue
                    entry = read_row(row, self._identities.get(row[1]))
                    if isinstance(entry, str):
                        raise self._bad_row(row, entry)
                    found[row[0]] = entry
        return found

    def put_many(self, entries: Mapping[bytes, Entry], judge: str) -> None:
        for entry in entries.values():
            problem = check_entry(entry)
            if problem is not None:
                raise RuntimeError(f"judge {judge} gave an answer that cannot be stored: {problem}")
        with self._lock:
            self._check_usable()
            now = time.time()
            for key, entry in entries.items():
                self._pending[key] = (entry, judge, now)
            if time.monotonic() - self._last_commit >= self.commit_every_s:
                self._commit()

    def flush(self) -> None:
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        """Write the pending entries in one transaction (caller holds the lock)."""
        if self._closed and not self._pending:
            return
        self._check_usable()
        if not self._pending:
            return
        with self._translated(), self._db:
            rows = [
                encode_row(key, self._judge_id(judge), judge, entry, created)
                for key, (entry, judge, created) in self._pending.items()
            ]
            self._db.executemany(
                f"INSERT INTO judgments ({COLUMNS}) VALUES ({','.join('?' * 13)}) "
                "ON CONFLICT (key) DO UPDATE SET judge = excluded.judge, answer = excluded.answer, "
                "prompt_tokens = excluded.prompt_tokens, "
                "completion_tokens = excluded.completion_tokens, valid = excluded.valid, "
                "repairs = excluded.repairs, attempts = excluded.attempts, "
                "created = excluded.created, checksum = excluded.checksum "
                "WHERE judgments.valid = 0 AND judgments.attempts < excluded.attempts",
                rows,
            )
        self._pending.clear()
        self._last_commit = time.monotonic()

    # --- whole-file operations ----------------------------------------------------------------

    def rows(self) -> Iterator[tuple[Sequence[Any], Entry | str]]:
        """Every stored row with its entry, or what is wrong with it."""
        self.flush()
        with self._translated():
            self._check_usable()
            self._load_judges()
            for row in self._db.execute(f"SELECT {COLUMNS} FROM judgments"):
                yield row, read_row(row, self._identities.get(row[1]))

    def identity(self, judge_id: Any) -> str | None:
        return self._identities.get(judge_id)

    def to_pandas(self) -> pd.DataFrame:
        """Every judgment, one row each: key (hex), judge identity, kind, qid, docids shown, the
        answer in its form's column (p_a, order or probs; None in the others), valid, repairs,
        attempts, prompt and completion tokens, created (UTC). A damaged row raises the InputError
        that reading it would (only what can be trusted is exported). Needs pandas."""
        import pandas as pd

        records = []
        for row, entry in self.rows():
            if isinstance(entry, str):
                raise self._bad_row(row, entry)
            records.append(frame_record(row[0], self.identity(row[1]), entry))
        return pd.DataFrame.from_records(records, columns=FRAME_COLUMNS)

    def check(self) -> tuple[int, list[str]]:
        """(rows read, one line per problem): SQLite's integrity check, then every row."""
        problems: list[str] = []
        with self._translated():
            self._check_usable()
            for (line,) in self._db.execute("PRAGMA integrity_check"):
                if line != "ok":
                    problems.append(f"SQLite: {line}")
        count = 0
        for row, entry in self.rows():
            count += 1
            if isinstance(entry, str):
                problems.append(row_problem(row, self.identity(row[1]), entry))
        return count, problems

    def stats(self) -> list[tuple[str, int]]:
        """(judge identity, stored judgments) for each judge, most first."""
        self.flush()
        with self._lock, self._translated():
            self._check_usable()
            rows = self._db.execute(
                "SELECT coalesce(judges.identity, '#' || judgments.judge), COUNT(*) "
                "FROM judgments LEFT JOIN judges ON judges.id = judgments.judge "
                "GROUP BY judgments.judge ORDER BY COUNT(*) DESC"
            ).fetchall()
        return [(judge, int(count)) for judge, count in rows]

    def clear(self, judges: Iterable[str] | None = None) -> int:
        """Delete every judgment (or only those of the given judge identities); returns how many."""
        self.flush()
        with self._lock, self._translated(), self._db:
            self._check_usable()
            if judges is None:
                cursor = self._db.execute("DELETE FROM judgments")
            else:
                names = list(judges)
                marks = ",".join("?" * len(names))
                cursor = self._db.execute(
                    "DELETE FROM judgments WHERE judge IN "
                    f"(SELECT id FROM judges WHERE identity IN ({marks}))",
                    names,
                )
        return cursor.rowcount

    def close(self) -> None:
        """Commit what is pending and close the file; closing twice is harmless. A cache whose
        file was replaced or removed under it closes without writing (its error was raised)."""
        if self._closed:
            return
        try:
            if self._lost is None:
                self.flush()
        finally:
            with self._lock:
                self._closed = True
                self._db.close()

    def __enter__(self) -> SQLiteCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Translate:
    """Turns SQLite's errors about the file into InputErrors naming it: a damaged file, or one
    that cannot be used (unwritable, disk full); a lock held too long stays an OperationalError."""

    def __init__(self, cache: SQLiteCache) -> None:
        self.cache = cache

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: type | None, error: BaseException | None, trace: object) -> None:
        if not isinstance(error, sqlite3.DatabaseError):
            return
        message = str(error)
        if "locked" in message or "busy" in message:
            return
        if isinstance(error, sqlite3.OperationalError):  # unwritable, disk full, cannot open
            raise InputError(f"{self.cache.path}: cannot use the cache file ({message})") from error
        raise self.cache.damaged(message) from error


def _enable_wal(db: sqlite3.Connection, timeout_s: float) -> None:
    """Switch to WAL mode. SQLite answers "database is locked" at once, without waiting out the busy
    timeout, when another process opens the same new file at the same moment: retry until then."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def default_cache_path() -> Path:
    """$RANKPIPE_CACHE, else ~/.cache/rankpipe/judgments.sqlite. An InputError when the variable
    is set but empty (a path of "" would be the working folder, which no one meant)."""
    value = os.environ.get("RANKPIPE_CACHE")
    if value is None:
        return Path.home() / ".cache" / "rankpipe" / "judgments.sqlite"
    if not value.strip():
        raise InputError(
            "the environment variable RANKPIPE_CACHE is set but empty: set it to a cache file, "
            "or unset it for the default ~/.cache/rankpipe/judgments.sqlite"
        )
    return Path(value)


def describe_default_cache() -> str:
    """The default cache file for help texts (never raises)."""
    try:
        return str(default_cache_path())
    except InputError:
        return "$RANKPIPE_CACHE, which is empty"


def open_cache(cache: str | Path | Cache | None) -> Cache:
    """A cache from a path (SQLite), an existing cache, or None (in memory, for this process
    only). The caller closes a cache opened from a path (or uses `opened_cache`)."""
    if cache is None:
        return MemoryCache()
    if isinstance(cache, (str, Path)):
        return SQLiteCache(cache)
    return cache


@contextlib.contextmanager
def opened_cache(cache: str | Path | Cache | None) -> Iterator[Cache]:
    """`open_cache(cache)` for a `with` block: a cache it opened from a path is closed at the
    block's end; a cache passed in stays open (whoever opened it closes it)."""
    opened = open_cache(cache)
    try:
        yield opened
    finally:
        if opened is not cache and isinstance(opened, SQLiteCache):
            opened.close()
