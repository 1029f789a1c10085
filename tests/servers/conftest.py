"""The `serve` fixture: start local fake completions servers, all stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fake_server import FakeServer, Respond, start_server


@pytest.fixture
def serve() -> Iterator[Callable[[Respond], FakeServer]]:
    started: list[FakeServer] = []

    def start(respond: Respond) -> FakeServer:
        started.append(start_server(respond))
        return started[-1]

    yield start
    for fake in started:
        fake.stop()
