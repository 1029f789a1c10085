"""Open input files (plain or gzip) with a clear error when they are missing or unreadable."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from rankpipe.errors import InputError


def open_text(path: str | Path) -> TextIO:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8")
        return open(path, encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot open it ({error.strerror or error})") from None


@contextlib.contextmanager
def _decoding(path: str | Path) -> Iterator[None]:
    """Undecodable content (not UTF-8, a broken or fake .gz) -> an InputError naming the file."""
    try:
        yield
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text ({error.reason})") from None
    except (OSError, EOFError) as error:
        raise InputError(f"{path}: cannot read it ({error})") from None


def read_text(path: str | Path) -> str:
    """The whole file's text."""
    with open_text(path) as handle, _decoding(path):
        return handle.read()


def numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) for each non-blank line."""
    with open_text(path) as handle, _decoding(path):
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield number, line
