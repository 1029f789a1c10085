"""What the reader and writer tests share: paths for round trips, and the error a bad file
raises."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rankpipe.errors import InputError


def plain_and_gzipped(name: str) -> Iterator[Path]:
    """NAME, then NAME.gz, in a fresh temporary folder (hypothesis runs a test many times within
    one pytest `tmp_path`, so each example gets its own folder)."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / name
        yield Path(folder) / f"{name}.gz"


def read_error(read: Callable[[Path], Any], path: Path, content: str) -> str:
    """The InputError message `read` raises on `path` holding `content`."""
    path.write_text(content)
    with pytest.raises(InputError) as error:
        read(path)
    return str(error.value)
