"""`rankpipe serve` as a process: SIGTERM drains the requests in flight and commits the cache (exit
0), a load test bounded in count and time on loopback shows the requests batched together, and
the command's own refusals."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from serve_helpers import serve

from rankpipe.cache import SQLiteCache
from rankpipe.data.datasets import Dataset

SLOW = "sim:grades=overlap,tokens=false,latency=0.05"


def test_sigterm_drains_the_request_in_flight_and_commits_the_cache(
    tmp_path: Path, dl19: Dataset
) -> None:
    cache = tmp_path / "judgments.sqlite"
    server = serve("--judge", SLOW, "--cache", str(cache))
    item = dl19.candidates[0].truncated(30)
    replies: list[httpx.Response] = []
    request = {"query": item.query.text, "documents": [c.text for c in item.candidates]}
    sender = threading.Thread(
        target=lambda: replies.append(
            httpx.post(f"{server.url}/v1/rerank", json=request, timeout=60)
        )
    )
    try:
        sender.start()
        deadline = time.monotonic() + 10  # heapsort over 30 at 0.05 s a call: about 2 s in all
        while server.metric("rankpipe_queue_depth") != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.metric("rankpipe_queue_depth") == 1  # in flight
        server.process.send_signal(signal.SIGTERM)
        sender.join(30)
        assert server.process.wait(30) == 0
    finally:
        server.stop(signal.SIGKILL)
        sender.join(5)
    assert replies and replies[0].status_code == 200, replies
    inferences = replies[0].json()["rankpipe"]["inferences"]
    assert inferences > 0
    assert "cache committed" in server.stderr()
    with SQLiteCache(cache) as stored:
        assert [count for _, count in stored.stats()] == [inferences]


def test_a_bounded_load_is_served_and_batched_across_requests(dl19: Dataset) -> None:
    """200 requests (8 distinct queries, top 20) from 32 clients, on loopback, in at most 60 s."""
    server = serve("--judge", SLOW, "--no-cache", "--batch-size", "512")
    items = [item.truncated(20) for item in dl19.candidates[:8]]
    requests = [items[i % len(items)] for i in range(200)]
    started = time.monotonic()
    try:
        with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=32)) as client:

            def send(index: int) -> tuple[int, list[int]]:
                item = requests[index]
                body = {"query": item.query.text, "documents": [c.text for c in item.candidates]}
                reply = client.post(f"{server.url}/v1/rerank", json=body)
                return reply.status_code, [r["index"] for r in reply.json()["results"]]

            with ThreadPoolExecutor(32) as pool:
                answers = list(pool.map(send, range(len(requests))))
        elapsed = time.monotonic() - started
        waves = server.metric("rankpipe_wave_queries_count")
        queries_in_waves = server.metric("rankpipe_wave_queries_sum")
    finally:
        assert server.stop() == 0
    assert elapsed < 60
    assert all(status == 200 for status, _ in answers)
    by_query: dict[int, set[tuple[int, ...]]] = {}
    for index, (_, order) in enumerate(answers):
        by_query.setdefault(index % len(items), set()).add(tuple(order))
    assert all(len(orders) == 1 for orders in by_query.values())  # identical requests, one ranking
    assert queries_in_waves / waves > 4  # waves held many requests' prompts at once


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rankpipe", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--judge", "sim:tokens=false", "--no-cache"], "sim needs qrels"),
        (
            ["--judge", "sim:grades=overlap", "--api-key-env", "RANKPIPE_NO_SUCH_VARIABLE"],
            "--api-key-env RANKPIPE_NO_SUCH_VARIABLE: the variable is not set or empty",
        ),
        (["--judge", "sim:grades=overlap", "--strategy", "nosuch"], "nosuch"),
    ],
)
def test_refusals_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = run_serve(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn", "prometheus_client"])
def test_a_missing_serve_extra_is_one_line_naming_it(missing: str) -> None:
    code = (
        f"import sys\nsys.modules[{missing!r}] = None\n"
        "from rankpipe.cli.main import main\n"
        "sys.exit(main(['serve', '--judge', 'sim:grades=overlap,tokens=false', '--no-cache']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().endswith(f"needs {missing}: pip install 'rankpipe[serve]'")
    assert len(done.stderr.strip().splitlines()) == 1
