"""Write outputs through a temporary file and a rename, so no half-written file is ever left."""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success rename it over `path`, on error delete it.
    A text file whose name ends in .gz is gzip-compressed, as the readers expect."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            if "b" in mode:
                yield raw
            elif path.suffix == ".gz":
                with gzip.open(raw, "wt", encoding="utf-8") as handle:
                    yield handle
            else:
                with open(raw.fileno(), "w", encoding="utf-8", closefd=False) as handle:
                    yield handle
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private: give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """This process's umask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
