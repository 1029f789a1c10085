"""Persistent judgment caches: one row per inference, found by a hash of what the judge was shown.

A key (16 bytes) is a BLAKE2b digest of the Python repr of a tuple of strings: the prompt kind
("pair", "block" or "set"), the judge's identity, then the query and the passages shown, in order
(their texts, or qid and docids for judges that decide by docid). Each string is quoted and
escaped, so the encoding cannot be read two ways and two different prompts never share a key
(`"x\x1fy", "z"` and `"x", "y\x1fz"` differ); it is also several times cheaper than JSON. The
first 4 bytes hash the judge and query alone, the other 12 everything, so one query's answers are
stored together and a commit touches few pages.

`SQLiteCache` keeps them in one SQLite file (WAL mode, busy timeout: several processes may write at
once). Schema 2, marked by `PRAGMA application_id` and `PRAGMA user_version` and checked on open:

| table.column | meaning |
|---|---|
| judges.id, judges.identity | each judge identity once |
| judgments.key | the prompt's digest (BLOB, primary key) |
| judgments.judge | judges.id of the judge that answered |
| judgments.kind | "pair", "block" or "set" |
| judgments.qid, judgments.docids | provenance: the query and the docids shown, in order (JSON) |
| judgments.answer | pair: P(a > b) (REAL); block: positions best first; set: probabilities |
| judgments.prompt_tokens, completion_tokens | the inference's token usage |
| judgments.valid | 0 when the model's answer was unusable (scored 0.5, or uniform) |
| judgments.repairs | identifiers a listwise parser had to fix |
| judgments.attempts | how often the prompt was asked (an invalid answer is asked again) |
| judgments.created | Unix time of the answer |
| judgments.checksum | BLAKE2b of the row's other fields and its judge's identity (64 bits) |

Every row read is checked (checksum, value ranges); a row that fails, a foreign or older schema,
or a file SQLite calls malformed is an InputError naming the file and how to recover. Nothing is
silently recomputed or silently served. Another program's SQLite file is never called an older
rankpipe cache (whose `judgments` table had exactly the columns key, value, judge), so the advice
to clear it is never given for it.

Two answers to one prompt: the first valid answer stored is kept, and a later different one (a
nondeterministic server, or two processes asking the same prompt at once) is dropped, so a key
always gives back what the first run that stored it saw; only an invalid answer is replaced by a
later attempt. To ask again, delete the judge's judgments (`rankpipe cache clear --judge ID`).

The file under the cache: its device and inode are noted at open, and checked before every read
and commit. A file replaced (an `mv` or copy over it) or removed while a process uses it stops that
process with an InputError saying so, before anything more is written: its write-ahead log is
first checkpointed into the old file and emptied, so neither file is left with the other's log.
A log left beside a replaced file by a process killed before it noticed is recognised by
`stale_wal()` (`rankpipe cache check` runs it), which says how to move it aside. Using a cache
after `close()` raises ClosedError, never a claim that the file is damaged.

Writes: `put_many` commits at once when the last commit is at least `commit_every_s` old, else
with the next commit or `flush()` (the executor flushes after every wave and before an error
surfaces). A batch from a judge slower than that is thus committed as soon as it returns; cheap
batches (the simulated judge) share one transaction per second instead of one each, which is what
made the cache the bulk of an all-pairs run. A kill -9 loses at most that last second of answers
and never a committed one; SQLite's WAL keeps the file valid.

`MemoryCache` serves runs that keep nothing."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, Protocol

from rankpipe.data.types import Candidate, Query
from rankpipe.errors import ClosedError, InputError
from rankpipe.judges.base import BlockJudgment, Judgment, SetJudgment

SCHEMA_VERSION = 2
APPLICATION_ID = 0x726B7063  # "rkpc"
KINDS = ("pair", "block", "set")

AnyJudgment = Judgment | BlockJudgment | SetJudgment


@dataclass(frozen=True)
class Entry:
    """One stored inference with its provenance: `docids` shown in order, and how often asked."""

    kind: str
    qid: str
    docids: tuple[str, ...]
    judgment: AnyJudgment
    attempts: int = 1
    created: float = 0.0

    @property
    def valid(self) -> bool:
        return getattr(self.judgment, "valid", True)


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


def prompt_key(
    kind: str, identity: str, reads_text: bool, query: Query, passages: Sequence[Candidate]
) -> bytes:
    """Key of one inference: kind, judge identity, and the query and passages shown, in order."""
    if reads_text:
        head, shown = query.text, [p.text for p in passages]
    else:
        head, shown = query.qid, [p.docid for p in passages]
    encoded = repr((kind, identity, head, *shown)).encode("utf-8", "surrogatepass")
    return _scope(identity, head) + hashlib.blake2b(encoded, digest_size=12).digest()


@functools.lru_cache(maxsize=4096)
def _scope(identity: str, head: str) -> bytes:
    """A key's first 4 bytes: one judge's answers for one query lie side by side in the file, so a
    commit rewrites a few pages of it rather than one page per row."""
    encoded = repr((identity, head)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(encoded, digest_size=4).digest()


def check_entry(entry: Entry) -> str | None:
    """What is wrong with an entry's values (None when nothing): ranges, types, shapes."""
    judgment, n = entry.judgment, len(entry.docids)
    if (  # the common case, quickly: a sound pairwise answer
        type(judgment) is Judgment
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
    if entry.kind not in KINDS:
        return f"unknown kind {entry.kind!r}"
    if not isinstance(entry.qid, str) or not all(isinstance(d, str) for d in entry.docids):
        return "qid or docids are not strings"
    for name in ("prompt_tokens", "completion_tokens"):
        count = getattr(judgment, name)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return f"{name} {count!r} is not a non-negative integer"
    if not isinstance(entry.attempts, int) or entry.attempts < 1:
        return f"attempts {entry.attempts!r} is not a positive integer"
    if isinstance(judgment, Judgment):
        p = judgment.p_a
        if entry.kind != "pair" or n != 2:
            return f"a pairwise answer stored as {entry.kind} over {n} docids"
        if not _is_number(p) or not 0.0 <= p <= 1.0:  # NaN fails both comparisons
            return f"p_a {p!r} is not a probability"
    elif isinstance(judgment, BlockJudgment):
        if entry.kind != "block":
            return f"a listwise answer stored as {entry.kind}"
        if sorted(judgment.order) != list(range(n)):
            return f"order {list(judgment.order)} is not a permutation of {n} positions"
        if not isinstance(judgment.repairs, int) or judgment.repairs < 0:
            return f"repairs {judgment.repairs!r} is not a non-negative integer"
    else:
        probs = judgment.probs
        if entry.kind != "set" or len(probs) != n or n < 1:
            return f"{len(probs)} set probabilities for {n} docids stored as {entry.kind}"
        if not all(_is_number(q) and 0.0 <= q <= 1.0 for q in probs):
            return f"set probabilities {list(probs)} are not probabilities"
        if not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
            return f"set probabilities sum to {sum(probs)}, not 1"
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


COLUMNS = (
    "key, judge, kind, qid, docids, answer, prompt_tokens, completion_tokens, valid, repairs, "
    "attempts, created, checksum"
)
SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS judges (id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS judgments (
    key BLOB PRIMARY KEY, judge INTEGER NOT NULL, kind TEXT NOT NULL, qid TEXT NOT NULL,
    docids TEXT NOT NULL, answer NOT NULL, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, valid INTEGER NOT NULL, repairs INTEGER NOT NULL,
    attempts INTEGER NOT NULL, created REAL NOT NULL, checksum INTEGER NOT NULL
) WITHOUT ROWID;
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""
Row = tuple[bytes, int, str, str, str, object, int, int, int, int, int, float, int]


def _checksum(identity: str, row: Sequence[Any]) -> int:
    """BLAKE2b over a row's fields (all but the checksum itself) and its judge's identity."""
    _, _, kind, qid, docids, answer, prompt, completion, valid, repairs, attempts, created = row[
        :12
    ]
    text = (
        f"{identity}\x1f{kind}\x1f{qid}\x1f{docids}\x1f{answer!r}\x1f{prompt!r}\x1f"
        f"{completion!r}\x1f{valid!r}\x1f{repairs!r}\x1f{attempts!r}\x1f{created!r}"
    )
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8, key=row[0])
    return int.from_bytes(digest.digest(), "big", signed=True)


def _json_strings(values: Sequence[str]) -> str:
    """`json.dumps(list(values))` for strings, without the encoder's per-call setup."""
    return "[" + ", ".join(map(encode_basestring_ascii, values)) + "]"


def _encode(key: bytes, judge_id: int, identity: str, entry: Entry, created: float) -> Row:
    judgment = entry.judgment
    answer: object
    if isinstance(judgment, Judgment):
        answer, valid, repairs = float(judgment.p_a), judgment.valid, 0
    elif isinstance(judgment, BlockJudgment):
        answer, valid, repairs = json.dumps(list(judgment.order)), True, judgment.repairs
    else:
        answer, valid, repairs = json.dumps(list(judgment.probs)), judgment.valid, 0
    row = (
        key,
        judge_id,
        entry.kind,
        entry.qid,
        _json_strings(entry.docids),
        answer,
        judgment.prompt_tokens,
        judgment.completion_tokens,
        int(valid),
        repairs,
        entry.attempts,
        entry.created or created,
    )
    return (*row, _checksum(identity, row))  # type: ignore[return-value]


def _decode(row: Sequence[Any], identity: str | None) -> Entry | str:
    """The entry a row holds, or what is wrong with it."""
    if identity is None:
        return f"judge id {row[1]!r} is not in the judges table"
    if row[12] != _checksum(identity, row):
        return "checksum mismatch (the row was altered after it was written)"
    kind, qid, docids, answer, prompt_tokens, completion_tokens, valid, repairs = row[2:10]
    try:
        shown = tuple(json.loads(docids))
        judgment: AnyJudgment
        if kind == "pair":
            if not isinstance(answer, float):
                return f"p_a {answer!r} is not a number"
            judgment = Judgment(answer, prompt_tokens, completion_tokens, valid == 1)
        elif kind == "block":
            order = tuple(json.loads(answer))
            judgment = BlockJudgment(order, prompt_tokens, completion_tokens, repairs)
        else:
            probs = tuple(float(p) for p in json.loads(answer))
            judgment = SetJudgment(probs, prompt_tokens, completion_tokens, valid == 1)
    except (TypeError, ValueError) as error:
        return f"undecodable value ({error})"
    if valid not in (0, 1):
        return f"valid {valid!r} is neither 0 nor 1"
    entry = Entry(kind, qid, shown, judgment, row[10], row[11])
    return check_entry(entry) or entry


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
        self._refuse_before_opening()
        with self._translated():
            self._db = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False)
            _enable_wal(self._db, timeout_s)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages
            self._db.execute("PRAGMA wal_autocheckpoint=8192")  # 32 MiB of WAL between copies
            self._check_schema()
            self._load_judges()
        self._file_id = _file_id(self.path)

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
        now = _file_id(self.path)
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
            tables, application, version = _schema_marks(self._db)
            if not tables and application == 0:
                self._db.executescript(SCHEMA)  # commits the check's transaction first
                return
        self._refuse_foreign(self._db, tables, application, version)

    def _refuse_before_opening(self) -> None:
        """Refuse an SQLite file that is not a rankpipe cache before opening it to write (which
        would switch it to WAL mode, changing another program's file): read-only, by its
        header's application id first."""
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(100)
        except OSError:
            return  # a missing file is created; an unreadable one is named when opened
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            return
        if int.from_bytes(header[68:72], "big") == APPLICATION_ID:
            return
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(
                sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            ) as db,
        ):
            tables, application, version = _schema_marks(db)
            if tables or application != 0:
                self._refuse_foreign(db, tables, application, version)

    def _refuse_foreign(
        self, db: sqlite3.Connection, tables: set[str], application: int, version: int
    ) -> None:
        """InputError for a database that is not a cache of this version's schema."""
        if application != APPLICATION_ID:
            if application == 0 and version == 0 and _older_schema(db):
                raise InputError(
                    f"{self.path}: a judgment cache of an older rankpipe (schema 1), which this "
                    f"version cannot trust (ambiguous keys, no checksums): empty it with "
                    f"`rankpipe cache clear --cache {self.path}` or delete it"
                )
            raise InputError(
                f"{self.path}: not a rankpipe judgment cache (an SQLite database holding "
                f"{', '.join(sorted(tables)) or 'no tables'}): choose another --cache file"
            )
        if version != SCHEMA_VERSION:
            raise InputError(
                f"{self.path}: a rankpipe cache of schema {version}, this version reads schema "
                f"{SCHEMA_VERSION}: empty it with `rankpipe cache clear --cache {self.path}` or "
                f"delete it"
            )

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
        if "not a database" in message and not is_replaceable(self.path):
            return InputError(
                f"{self.path}: not a rankpipe judgment cache (not an SQLite file): choose another "
                "--cache file"
            )
        if stale_wal(self.path):
            return stale_wal_error(self.path)
        return InputError(
            f"{self.path}: the cache file is damaged ({message}): empty it with "
            f"`rankpipe cache clear --cache {self.path}` (its judgments are lost) or delete it"
        )

    def _translated(self) -> _Translate:
        return _Translate(self)

    def _bad_row(self, row: Sequence[Any], problem: str) -> InputError:
        identity = self._identities.get(row[1])
        recover = (
            f"delete that judge's judgments with `rankpipe cache clear --cache {self.path} "
            f"--judge '{identity}'`"
            if identity is not None
            else f"empty the cache with `rankpipe cache clear --cache {self.path}`"
        )
        return InputError(
            f"{self.path}: damaged judgment (key {bytes(row[0]).hex()}, judge "
            f"{identity or row[1]}, {row[2]} {row[3]}): {problem}; {recover}, or delete the "
            f"file (`rankpipe cache check --cache {self.path}` lists every damaged row)"
        )

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
                    entry = _decode(row, self._identities.get(row[1]))
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
                _encode(key, self._judge_id(judge), judge, entry, created)
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
                yield row, _decode(row, self._identities.get(row[1]))

    def identity(self, judge_id: Any) -> str | None:
        return self._identities.get(judge_id)

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
                problems.append(
                    f"key {bytes(row[0]).hex()} (judge {self.identity(row[1]) or row[1]}, "
                    f"{row[2]} {row[3]}): {entry}"
                )
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


OLDER_COLUMNS = ["key", "value", "judge"]
"""The `judgments` table of schema 1, the only older rankpipe cache."""


def _schema_marks(db: sqlite3.Connection) -> tuple[set[str], int, int]:
    """(table names, application id, user version) of a database."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    application = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    return tables, application, version


def _older_schema(db: sqlite3.Connection) -> bool:
    """Whether an unmarked SQLite file is an older rankpipe cache (its `judgments` table has the
    columns of schema 1), not another program's file that happens to have such a table."""
    return [r[1] for r in db.execute("PRAGMA table_info(judgments)")] == OLDER_COLUMNS


def _file_id(path: Path) -> tuple[int, int] | None:
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
    only)."""
    if cache is None:
        return MemoryCache()
    if isinstance(cache, (str, Path)):
        return SQLiteCache(cache)
    return cache
