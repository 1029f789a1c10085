"""Persistent judgment caches: a key is a hash of the judge's identity and what it was shown.

`SQLiteCache` is safe for several processes writing at once (WAL mode, busy timeout);
`MemoryCache` serves runs that keep nothing."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from rankpipe.judges.base import BlockJudgment, BlockPrompt, Judge, Judgment, ListJudge, PairPrompt

SEPARATOR = "\x1f"


class Cache(Protocol):
    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored values of those keys that are present."""
        ...

    def put_many(self, items: Mapping[str, str], judge: str) -> None:
        """Store values under keys, recording which judge identity produced them."""
        ...


def _digest(*parts: str) -> str:
    return hashlib.sha256(SEPARATOR.join(parts).encode("utf-8")).hexdigest()


def pair_key(judge: Judge, prompt: PairPrompt) -> str:
    """Key of one pairwise inference: judge identity, query, and passages a then b."""
    if judge.reads_text:
        return _digest("pair", judge.identity, prompt.query.text, prompt.a.text, prompt.b.text)
    return _digest("pair", judge.identity, prompt.query.qid, prompt.a.docid, prompt.b.docid)


def block_key(judge: ListJudge, prompt: BlockPrompt) -> str:
    """Key of one listwise inference: judge identity, query, and the block's passages in order."""
    if judge.reads_text:
        return _digest(
            "block", judge.identity, prompt.query.text, *(p.text for p in prompt.passages)
        )
    return _digest("block", judge.identity, prompt.query.qid, *(p.docid for p in prompt.passages))


def encode_judgment(judgment: Judgment | BlockJudgment) -> str:
    return json.dumps(vars(judgment))  # flat dataclasses: vars() is asdict() without its deep copy


def decode_judgment(value: str) -> Judgment:
    return Judgment(**json.loads(value))


def decode_block_judgment(value: str) -> BlockJudgment:
    record = json.loads(value)
    record["order"] = tuple(record["order"])
    return BlockJudgment(**record)


class MemoryCache:
    """A cache that lives as long as the process."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        return {k: self._values[k] for k in keys if k in self._values}

    def put_many(self, items: Mapping[str, str], judge: str) -> None:
        self._values.update(items)

    def __len__(self) -> int:
        return len(self._values)


class SQLiteCache:
    """A judgment cache in one SQLite file, shared safely by concurrent processes."""

    def __init__(self, path: str | Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False)
        _enable_wal(self._db, timeout_s)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS judgments "
            "(key TEXT PRIMARY KEY, value TEXT NOT NULL, judge TEXT NOT NULL)"
        )
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, value FROM judgments WHERE key IN ({marks})", chunk
                )
                found.update(rows.fetchall())
        return found

    def put_many(self, items: Mapping[str, str], judge: str) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO judgments (key, value, judge) VALUES (?, ?, ?)",
                [(k, v, judge) for k, v in items.items()],
            )

    def stats(self) -> list[tuple[str, int]]:
        """(judge identity, stored judgments) for each judge, most first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT judge, COUNT(*) FROM judgments GROUP BY judge ORDER BY COUNT(*) DESC"
            ).fetchall()
        return [(judge, int(count)) for judge, count in rows]

    def clear(self, judges: Iterable[str] | None = None) -> int:
        """Delete every judgment (or only those of the given judge identities); returns how many."""
        with self._lock, self._db:
            if judges is None:
                cursor = self._db.execute("DELETE FROM judgments")
            else:
                names = list(judges)
                marks = ",".join("?" * len(names))
                cursor = self._db.execute(f"DELETE FROM judgments WHERE judge IN ({marks})", names)
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


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
    """$RANKPIPE_CACHE, else ~/.cache/rankpipe/judgments.sqlite."""
    return Path(
        os.environ.get("RANKPIPE_CACHE", Path.home() / ".cache" / "rankpipe" / "judgments.sqlite")
    )


def open_cache(cache: str | Path | Cache | None) -> Cache:
    """A cache from a path (SQLite), an existing cache, or None (in memory, for this process
    only)."""
    if cache is None:
        return MemoryCache()
    if isinstance(cache, (str, Path)):
        return SQLiteCache(cache)
    return cache
