"""Persistent judgment caches: one row per inference, found by a hash of what the judge was shown.

| module | what it holds |
|---|---|
| `keys` | `prompt_key` (what the judge was shown -> 16 bytes) and the rows' checksum |
| `codec` | the on-disk format: schema, `Entry`, one codec per request form (`CODECS`) |
| `checks` | whether an entry, a row or a file can be trusted; recovery advice; stale logs |
| `store` | `SQLiteCache`, `MemoryCache`, the `Cache` protocol, `open_cache`, `opened_cache` |

Everything a caller needs is importable from `rankpipe.cache` itself."""

from __future__ import annotations

from rankpipe.cache.checks import (
    check_entry,
    is_replaceable,
    remove_cache_file,
    stale_wal,
    stale_wal_error,
)
from rankpipe.cache.codec import (
    APPLICATION_ID,
    CODECS,
    SCHEMA_VERSION,
    AnyJudgment,
    Codec,
    Entry,
)
from rankpipe.cache.keys import prompt_key
from rankpipe.cache.store import (
    Cache,
    MemoryCache,
    SQLiteCache,
    default_cache_path,
    describe_default_cache,
    open_cache,
    opened_cache,
)

__all__ = [
    "APPLICATION_ID",
    "CODECS",
    "SCHEMA_VERSION",
    "AnyJudgment",
    "Cache",
    "Codec",
    "Entry",
    "MemoryCache",
    "SQLiteCache",
    "check_entry",
    "default_cache_path",
    "describe_default_cache",
    "is_replaceable",
    "open_cache",
    "opened_cache",
    "prompt_key",
    "remove_cache_file",
    "stale_wal",
    "stale_wal_error",
]
