"""Local fake OpenAI-compatible completions servers for the `openai` backend's tests: the standard
library's `http.server` in a thread on 127.0.0.1, answering with whatever `respond(request, number)`
returns, counting requests and how many were in flight at once. `stop()` kills one mid-run (its
port then refuses connections)."""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]
"""(HTTP status, JSON body or raw text[, headers])"""
Respond = Callable[[dict[str, Any], int], Reply]


@dataclass
class FakeServer:
    """A completions server whose answers come from `respond(request, number)` (number from 1)."""

    respond: Respond
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    metrics: str = ""
    """The text served at GET /metrics (the URL's root, as vLLM serves its Prometheus page)."""

    def prompts(self) -> list[str]:
        with self.lock:
            return [r["prompt"] for r in self.requests]

    def stop(self) -> None:
        """Stop serving and close the port: later requests are refused."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def start_server(respond: Respond) -> FakeServer:
    fake = FakeServer(respond)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with fake.lock:
                fake.requests.append({"path": self.path, **request})
                number = len(fake.requests)
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                status, body, *headers = fake.respond(request, number)
            finally:
                with fake.lock:
                    fake.in_flight -= 1
            payload = body if isinstance(body, str) else json.dumps(body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in (headers[0] if headers else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload.encode())
            except OSError:  # the client gave up waiting (a timeout test)
                pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            found = self.path == "/metrics"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(fake.metrics.encode() if found else b"not found")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    fake.server = server
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    return fake


def completion(
    text: str, top: dict[str, float] | None = None, prompt_tokens: int = 57
) -> dict[str, Any]:
    """A legacy-format completions answer; `top` maps token text to log-probability."""
    logprobs = None
    if top is not None:
        logprobs = {"tokens": [text], "token_logprobs": [max(top.values())], "top_logprobs": [top]}
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "model": MODEL,
        "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": "length"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 1,
            "total_tokens": prompt_tokens + 1,
        },
    }


def prefers_a(request: dict[str, Any], number: int) -> Reply:
    return 200, completion(" A", {" A": math.log(0.8), " B": math.log(0.2), " The": math.log(0.01)})


def dead_url() -> str:
    """The URL of a local port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
