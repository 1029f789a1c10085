"""Benchmark `rankpipe serve`: throughput and latency (p50/p95/p99) at 1, 8, 32 and 128 concurrent
clients, continuous batching on (requests share the executor's waves) against off (`--max-concurrent
1`: one request reranked at a time), with `sim:grades=overlap,latency=L` standing in for a GPU call
(each judge call sleeps L seconds whatever its batch size, as a GPU batch roughly costs); the HTTP
layer's overhead against calling `Reranker.submit` in process; and a few requests with the `hf`
SmolLM2-135M judge on this CPU.

Each request is a DL19 query with 20 of its BM25 top-100 passages drawn at random (seeded by the
request's number), its text tagged with that number so that no two requests share a judgment (the
cache answers nothing; hits are reported); heapsort decides the top 10. Clients run closed loops
(the next request as soon as the last is answered) for `--window` seconds, after one warm-up
request; requests in flight at the end get 15 s more to finish, then are abandoned (the server
cancels them) and not counted, so with batching off the latencies of 32 and 128 clients are those
of the requests that finished (a steady queue of c requests means about c lone latencies each).
Servers are subprocesses on 127.0.0.1; the clients (httpx, asyncio) share the CPU with them.

Usage: python eval/bench_serve.py [--latency 0.05] [--window 30] [--clients 1 8 32 128]
                                  [--hf-requests 2] [--parts concurrency overhead hf]
                                  [--output eval/results/serve.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from rankpipe.data.datasets import load_dataset
from rankpipe.data.types import QueryCandidates
from rankpipe.reranker import Reranker
from rankpipe.serve.api import RerankRequest, to_candidates

DOCS = 20
GRACE_S = 15.0
PARTS = ("concurrency", "overhead", "hf")
TOP_K = 10
HF = "hf:HuggingFaceTB/SmolLM2-135M-Instruct,device=cpu"
HF_DOCS = 6
HF_TIMEOUT_S = 3600.0


def make_request(items: Sequence[QueryCandidates], number: int, docs: int = DOCS) -> dict[str, Any]:
    """Request `number`: a query, tagged with the number so that no two requests share a judgment
    (the cache answers nothing: what is measured is batching alone), and `docs` of its
    candidates, drawn with the number as seed."""
    rng = random.Random(number)
    item = items[number % len(items)]
    chosen = sorted(rng.sample(range(len(item.candidates)), docs))
    query = f"{item.query.text} [r{number}]"
    return {"query": query, "documents": [item.candidates[i].text for i in chosen]}


def start_server(judge: str, *options: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "rankpipe", "serve", "--judge", judge, "--no-cache",
         "--top-k", str(TOP_K), "--host", "127.0.0.1", "--port", "0", *options],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


def stop_server(process: subprocess.Popen[str]) -> int:
    process.terminate()
    return process.wait(120)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if len(values) < 2:
        value = values[0] if values else float("nan")
        return {"p50": value, "p95": value, "p99": value}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": statistics.median(values), "p95": cuts[94], "p99": cuts[98]}


async def closed_loop(
    url: str, items: Sequence[QueryCandidates], clients: int, window: float, first: int
) -> dict[str, Any]:
    """`clients` closed loops that start requests for `window` seconds, then up to GRACE_S more
    for those in flight to finish (the rest are abandoned and not counted)."""
    latencies: list[float] = []
    usage = {"inferences": 0, "cache_hits": 0, "errors": 0}
    counter = iter(range(first, first + 10**9))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def one() -> float:
            started = time.perf_counter()
            reply = await client.post(url, json=make_request(items, next(counter)))
            if reply.status_code != 200:
                usage["errors"] += 1
            else:
                for key in ("inferences", "cache_hits"):
                    usage[key] += reply.json()["rankpipe"][key]
            return time.perf_counter() - started

        async def loop(stop: float) -> None:
            while time.perf_counter() < stop:
                latencies.append(await one())

        await one()  # warm-up (connections, first calls), not counted
        usage = dict.fromkeys(usage, 0)
        began = time.perf_counter()
        tasks = [asyncio.ensure_future(loop(began + window)) for _ in range(clients)]
        _, pending = await asyncio.wait(tasks, timeout=window + GRACE_S)
        elapsed = time.perf_counter() - began
        for task in pending:
            task.cancel()  # abandoned: the connection closes, the server cancels the query
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"clients": clients, "done": len(latencies), "abandoned": len(pending),
            "elapsed_s": elapsed, "rps": len(latencies) / elapsed, **percentiles(latencies),
            **usage}  # fmt: skip


def concurrency_table(
    items: Sequence[QueryCandidates], latency: float, window: float, clients: Sequence[int]
) -> list[dict[str, Any]]:
    rows = []
    judge = f"sim:grades=overlap,tokens=false,latency={latency}"
    for mode, options in (("on", ("--batch-size", "4096")), ("off", ("--max-concurrent", "1"))):
        process, url = start_server(judge, *options)
        try:
            for cell, count in enumerate(clients):
                first = (cell + 1) * 1_000_000
                row = asyncio.run(closed_loop(f"{url}/v1/rerank", items, count, window, first))
                rows.append({"batching": mode, **row})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            rows.append({"batching": mode, "exit": stop_server(process)})
    return rows


def http_overhead(items: Sequence[QueryCandidates], requests: int) -> dict[str, Any]:
    """The same requests one at a time with a judge that costs nothing (`sim`, no latency): through
    `Reranker.submit` in this process (with the app's own mapping of the request) and over HTTP,
    alternating, so that the machine's load drifts alike on both."""
    bodies = [make_request(items, 10_000 + n) for n in range(requests + 1)]
    judge = "sim:grades=overlap,tokens=false"
    local, remote = [], []
    process, url = start_server(judge)
    try:
        with (
            Reranker(judge, "heapsort", TOP_K, cache="memory") as reranker,
            httpx.Client(timeout=60) as client,
        ):
            for n, body in enumerate(bodies):  # the first of each: warm-up, not counted
                started = time.perf_counter()
                reranker.submit(to_candidates(RerankRequest.model_validate(body))).result()
                middle = time.perf_counter()
                assert client.post(f"{url}/v1/rerank", json=body).status_code == 200
                if n:
                    local.append(middle - started)
                    remote.append(time.perf_counter() - middle)
    finally:
        stop_server(process)
    extra = [r - loc for r, loc in zip(remote, local, strict=True)]
    return {"requests": requests, "in_process": percentiles(local), "http": percentiles(remote),
            "http_minus_in_process": percentiles(extra)}  # fmt: skip


def hf_requests(items: Sequence[QueryCandidates], count: int) -> dict[str, Any]:
    """Requests of HF_DOCS documents (top 3) to a server with the hf SmolLM2 judge: one alone,
    then `count` at once (batched together); the server's start (model load) timed apart."""
    started = time.perf_counter()
    process, url = start_server(HF, "--top-k", "3", "--batch-size", "16")
    try:
        with httpx.Client(timeout=HF_TIMEOUT_S) as client:
            client.get(f"{url}/health")
            ready = time.perf_counter() - started
            alone = _timed_post(client, url, make_request(items, 20_000, HF_DOCS))

            async def together() -> list[dict[str, Any]]:
                async with httpx.AsyncClient(timeout=HF_TIMEOUT_S) as pool:
                    return await asyncio.gather(
                        *(_timed_post_async(pool, url, make_request(items, 20_001 + n, HF_DOCS))
                          for n in range(count))
                    )  # fmt: skip

            began = time.perf_counter()
            concurrent = asyncio.run(together())
            total = time.perf_counter() - began
    finally:
        stop_server(process)
    return {"docs": HF_DOCS, "startup_s": ready, "alone": alone, "concurrent": concurrent,
            "concurrent_s": total}  # fmt: skip


def _timed_post(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    reply = client.post(f"{url}/v1/rerank", json=body)
    return _summary(reply, time.perf_counter() - started)


async def _timed_post_async(
    client: httpx.AsyncClient, url: str, body: dict[str, Any]
) -> dict[str, Any]:
    started = time.perf_counter()
    reply = await client.post(f"{url}/v1/rerank", json=body)
    return _summary(reply, time.perf_counter() - started)


def _summary(reply: httpx.Response, seconds: float) -> dict[str, Any]:
    if reply.status_code != 200:
        return {"s": seconds, "status": reply.status_code, "error": reply.text[:300]}
    cost = reply.json()["rankpipe"]
    return {"s": seconds, "status": 200, **{k: cost[k] for k in ("inferences", "judge_calls")}}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per judge call")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per cell")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--overhead-requests", type=int, default=100)
    parser.add_argument("--hf-requests", type=int, default=2, help="at once, after one alone")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--output", type=Path, default=Path("eval/results/serve.json"))
    args = parser.parse_args(argv)
    items = load_dataset("dl19").candidates
    results: dict[str, Any] = {"command": " ".join(sys.argv), "latency": args.latency,
                               "window": args.window, "load_before": os.getloadavg()}  # fmt: skip
    for part in args.parts:  # each part's figures written as soon as it ends
        if part == "concurrency":
            results[part] = concurrency_table(items, args.latency, args.window, args.clients)
        elif part == "overhead":
            results[part] = http_overhead(items, args.overhead_requests)
        else:
            results[part] = hf_requests(items, args.hf_requests)
        print(json.dumps(results[part]), flush=True)
        results["load_after"] = os.getloadavg()
        args.output.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
