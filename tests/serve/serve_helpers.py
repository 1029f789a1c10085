"""Real servers for the tests: `rankpipe serve` (or tests/serve/app_server.py, the app factory with
a judge that fails on purpose) in a subprocess on 127.0.0.1, a free port chosen by the server
(`--port 0`, read from its first line). Every server started is stopped: SIGTERM, then SIGKILL if
it has not exited within 15 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
JUDGE = "sim:grades=overlap,tokens=false"
STARTUP_S = 60.0


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig`, wait for the exit (SIGKILL past `timeout`); the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def metric(self, name: str) -> float:
        """One sample's value from /metrics (0 when absent)."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def start(args: list[str], env: dict[str, str] | None = None) -> Server:
    """Start a server (`args` after the interpreter) and wait until it answers /health."""
    process = subprocess.Popen(
        [sys.executable, *args, "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # "rankpipe serve: listening on http://127.0.0.1:PORT"
    if "listening on" not in line:
        process.kill()
        process.wait()
        pytest.fail(f"the server did not start: {line!r} {process.stderr.read()}")  # type: ignore[union-attr]
    server = Server(process, line.rsplit(" ", 1)[1].strip())
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.url}/health", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop(signal.SIGKILL)
    pytest.fail("the server did not answer /health")


def serve(*options: str, env: dict[str, str] | None = None) -> Server:
    """`rankpipe serve OPTIONS` (the overlap sim judge unless --judge is given)."""
    judge = [] if "--judge" in options else ["--judge", JUDGE]
    return start(["-m", "rankpipe", "serve", *judge, *options], env)
