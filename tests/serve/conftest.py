"""The serve tests need the serve extra and httpx (skipped, saying so, where they are absent), and
share one plain server per module (tests/serve/serve_helpers.py starts and stops it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi", reason="rankpipe serve needs the serve extra (fastapi)")
pytest.importorskip("uvicorn", reason="rankpipe serve needs the serve extra (uvicorn)")
pytest.importorskip("prometheus_client", reason="rankpipe serve needs the serve extra")
pytest.importorskip("httpx", reason="the serve tests talk HTTP with httpx")

from serve_helpers import Server, serve  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A plain server: overlap sim judge, heapsort, top-k 10, judgments in memory."""
    running = serve("--no-cache", "--allow-strategy", "quickselect")
    yield running
    assert running.stop() == 0
