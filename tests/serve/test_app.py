"""The rerank service over real HTTP on a loopback port (tests/serve/serve_helpers.py starts the
servers): the rankings equal Reranker.rerank's, concurrent requests get their own, every bad
request its 4xx naming the field, the bearer key, a judge failure kept to its own requests, a
disconnect that cancels, the Cohere client."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import HERE, JUDGE, Server, serve, start

from rankpipe.data.candidates import write_candidates
from rankpipe.data.datasets import Dataset
from rankpipe.data.trec import read_run
from rankpipe.data.types import QueryCandidates
from rankpipe.reranker import Reranker

KEY = "s3cret-key"


def body(item: QueryCandidates, **extra: Any) -> dict[str, Any]:
    return {"query": item.query.text, "documents": [c.text for c in item.candidates], **extra}


def expected(items: list[QueryCandidates], strategy: str = "heapsort") -> dict[str, list[str]]:
    """qid -> the docids in the order Reranker.rerank gives, same judge, strategy and top-k."""
    with Reranker(JUDGE, strategy, top_k=10, cache="memory") as reranker:
        run = reranker.rerank(items).run
    return {qid: list(ranking.docids) for qid, ranking in run.items()}


def ranked(response: httpx.Response, item: QueryCandidates) -> list[str]:
    assert response.status_code == 200, response.text
    return [item.candidates[r["index"]].docid for r in response.json()["results"]]


@pytest.fixture(scope="module")
def items(dl19: Dataset) -> list[QueryCandidates]:
    """Eight DL19 queries, their BM25 top 30."""
    return [item.truncated(30) for item in dl19.candidates[:8]]


def test_a_dl19_ranking_equals_reranker_and_repeats_from_the_cache(
    server: Server, items: list[QueryCandidates]
) -> None:
    item = items[0]
    first = httpx.post(f"{server.url}/v1/rerank", json=body(item), timeout=60)
    assert ranked(first, item) == expected([item])[item.query.qid]
    scores = [r["relevance_score"] for r in first.json()["results"]]
    assert scores == sorted(scores, reverse=True) and 0.0 <= scores[-1] <= scores[0] <= 1.0
    usage = first.json()["rankpipe"]
    assert usage["strategy"] == "heapsort" and usage["inferences"] > 0
    again = httpx.post(f"{server.url}/v2/rerank", json=body(item, top_n=5), timeout=60)
    assert ranked(again, item) == expected([item])[item.query.qid][:5]
    assert again.json()["rankpipe"]["inferences"] == 0  # the same judgments, from the cache
    assert again.json()["meta"]["api_version"]["version"] == "2"


def test_a_dl19_ranking_equals_the_cli_s(
    server: Server, items: list[QueryCandidates], tmp_path: Path
) -> None:
    """`rankpipe rerank` on the same candidates, judge and strategy writes the server's order."""
    item = items[6]
    write_candidates([item], tmp_path / "one.jsonl")
    done = subprocess.run(
        [sys.executable, "-m", "rankpipe", "rerank", "--candidates", str(tmp_path / "one.jsonl"),
         "--judge", JUDGE, "--strategy", "heapsort", "--top-k", "10", "--no-cache",
         "--output", str(tmp_path / "run.trec")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cli = read_run(tmp_path / "run.trec")[item.query.qid].docids
    reply = httpx.post(f"{server.url}/v1/rerank", json=body(item), timeout=60)
    assert ranked(reply, item) == list(cli)


def test_concurrent_requests_get_their_own_rankings(
    server: Server, items: list[QueryCandidates]
) -> None:
    want = expected(items)
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(len(items)) as pool:
        responses = list(
            pool.map(lambda item: client.post(f"{server.url}/v1/rerank", json=body(item)), items)
        )
    for item, response in zip(items, responses, strict=True):
        assert ranked(response, item) == want[item.query.qid]


def test_a_request_may_name_an_allowed_strategy(
    server: Server, items: list[QueryCandidates]
) -> None:
    item = items[1]
    response = httpx.post(
        f"{server.url}/v1/rerank", json=body(item, rankpipe={"strategy": "quickselect"}), timeout=60
    )
    assert ranked(response, item)[:10] == expected([item], "quickselect")[item.query.qid][:10]
    assert response.json()["rankpipe"]["strategy"] == "quickselect"


def test_documents_come_back_when_asked(server: Server) -> None:
    documents = ["cats sleep", {"text": "the life cycle of a flea"}, "flea bites"]
    response = httpx.post(
        f"{server.url}/v1/rerank",
        json={"query": "flea life cycle", "documents": documents, "return_documents": True},
        timeout=30,
    )
    results = response.json()["results"]
    assert [r["index"] for r in results] == [1, 2, 0]
    assert results[0]["document"] == {"text": "the life cycle of a flea"}


OK = {"query": "flea", "documents": ["a flea"]}
BAD = [
    pytest.param(b'{"query": "flea", "documents": [', 400, "body", id="malformed-json"),
    pytest.param(b"[1, 2]", 422, "body", id="not-an-object"),
    pytest.param({"documents": ["a"]}, 422, "query", id="no-query"),
    pytest.param({**OK, "documents": []}, 422, "documents", id="no-documents"),
    pytest.param({**OK, "documents": ["a", "  "]}, 422, "documents[1]", id="blank-document"),
    pytest.param({**OK, "documents": ["a", 7]}, 422, "documents[1]", id="number-document"),
    pytest.param({**OK, "documents": [{"txt": "a"}]}, 422, "documents[0].text", id="no-text"),
    pytest.param({**OK, "query": " "}, 422, "query", id="blank-query"),
    pytest.param({**OK, "top_n": 0}, 422, "top_n", id="top_n-0"),
    pytest.param({**OK, "top_n": 101}, 422, "top_n", id="top_n-past-bound"),
    pytest.param({**OK, "top_n": "3"}, 422, "top_n", id="top_n-string"),
    pytest.param({**OK, "topn": 3}, 422, "topn", id="unknown-field"),
    pytest.param(
        {**OK, "rankpipe": {"strategy": "allpairs"}}, 422, "rankpipe.strategy", id="strategy"
    ),
    pytest.param({**OK, "documents": ["a"] * 101}, 413, "documents", id="too-many-documents"),
    pytest.param({**OK, "documents": ["a" * 20_001]}, 413, "documents[0]", id="long-document"),
    pytest.param(b"x" * 4_000_001, 413, "body", id="body-too-large"),
]


@pytest.mark.parametrize(("payload", "status", "field"), BAD)
def test_every_bad_request_gets_its_4xx_naming_the_field(
    server: Server, payload: Any, status: int, field: str
) -> None:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response = httpx.post(
        f"{server.url}/v1/rerank",
        content=content,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field and field.split("[")[0] in error["message"]


def test_health_metrics_and_docs(server: Server) -> None:
    health = httpx.get(f"{server.url}/health", timeout=10).json()
    assert health["status"] == "ok" and health["strategies"] == ["quickselect", "heapsort"]
    assert server.metric('rankpipe_requests_total{endpoint="/v1/rerank",status="200"}') >= 1
    assert server.metric("rankpipe_judgments_total") > 0
    assert server.metric("rankpipe_wave_queries_count") > 0
    paths = httpx.get(f"{server.url}/openapi.json", timeout=10).json()["paths"]
    assert {"/v1/rerank", "/v2/rerank", "/health", "/metrics"} <= set(paths)
    assert httpx.get(f"{server.url}/docs", timeout=10).status_code == 200


@pytest.fixture(scope="module")
def keyed() -> Iterator[Server]:
    variable = {"RANKPIPE_TEST_KEY": KEY}
    running = serve("--no-cache", "--api-key-env", "RANKPIPE_TEST_KEY", env=variable)
    yield running
    assert running.stop() == 0


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        (KEY, 401),
        (f"Bearer {KEY}x", 401),
        (f"Bearer {KEY}", 200),
    ],
)
def test_the_bearer_key(keyed: Server, header: str | None, status: int) -> None:
    headers = {"authorization": header} if header else {}
    response = httpx.post(f"{keyed.url}/v1/rerank", json=OK, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    metrics = httpx.get(f"{keyed.url}/metrics", headers=headers, timeout=10)
    assert metrics.status_code == status
    if status == 401:
        assert response.json()["error"]["field"] == "authorization"
        assert response.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{keyed.url}/health", timeout=10).status_code == 200


def test_a_judge_failure_fails_only_its_request(items: list[QueryCandidates]) -> None:
    """One prompt per judge call, so the failing query shares no batch with the others."""
    failing = start([str(HERE / "app_server.py"), "--batch-size", "1", "--latency", "0.002"])
    try:
        sent = [{"query": "FAIL " + items[0].query.text, "documents": ["a", "b", "c"]}]
        sent += [body(item) for item in items[:4]]
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(len(sent)) as pool:
            url = f"{failing.url}/v1/rerank"
            replies = list(pool.map(lambda b: client.post(url, json=b), sent))
        assert replies[0].status_code == 503
        assert replies[0].json()["error"]["type"] == "judge_failed"
        want = expected(items[:4])
        for item, reply in zip(items[:4], replies[1:], strict=True):
            assert ranked(reply, item) == want[item.query.qid]
        after = httpx.post(f"{failing.url}/v2/rerank", json=body(items[5]), timeout=60)
        assert after.status_code == 200
    finally:
        assert failing.stop() == 0


def test_a_client_that_leaves_stops_costing_judgments(items: list[QueryCandidates]) -> None:
    slow = serve("--no-cache", "--judge", "sim:grades=overlap,tokens=false,latency=0.1")
    try:
        with pytest.raises(httpx.ReadTimeout):  # heapsort over 30: about 40 rounds, 4 s
            httpx.post(f"{slow.url}/v1/rerank", json=body(items[2]), timeout=0.6)
        deadline = time.monotonic() + 5
        while slow.metric("rankpipe_queue_depth") and time.monotonic() < deadline:
            time.sleep(0.1)
        waves = slow.metric("rankpipe_wave_queries_count")
        assert slow.metric("rankpipe_queue_depth") == 0 and 0 < waves < 20
        time.sleep(0.5)
        assert slow.metric("rankpipe_wave_queries_count") == waves  # no more judge calls
        assert slow.metric('rankpipe_requests_total{endpoint="/v1/rerank",status="499"}') == 1
    finally:
        assert slow.stop() == 0


def test_one_at_a_time_and_a_client_leaving_the_queue(items: list[QueryCandidates]) -> None:
    """--max-concurrent 1: every wave holds one request; one that leaves while waiting for its
    turn is never reranked."""
    slow = serve("--no-cache", "--max-concurrent", "1", "--judge", f"{JUDGE},latency=0.05")
    replies: list[httpx.Response] = []
    url = f"{slow.url}/v1/rerank"
    first = threading.Thread(
        target=lambda: replies.append(httpx.post(url, json=body(items[4]), timeout=60))
    )
    try:
        first.start()
        time.sleep(0.3)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url, json=body(items[5]), timeout=0.3)
        first.join(60)
        assert replies[0].status_code == 200
        assert (
            slow.metric("rankpipe_judgments_total") == replies[0].json()["rankpipe"]["inferences"]
        )
        assert slow.metric("rankpipe_wave_queries_sum") == slow.metric(
            "rankpipe_wave_queries_count"
        )
        assert slow.metric('rankpipe_requests_total{endpoint="/v1/rerank",status="499"}') == 1
    finally:
        assert slow.stop() == 0
        first.join(5)


def test_the_cohere_client(server: Server, items: list[QueryCandidates]) -> None:
    cohere = pytest.importorskip("cohere", reason="the cohere client is not installed")
    item = items[3]
    want = expected([item])[item.query.qid]
    documents = [c.text for c in item.candidates]
    v2 = cohere.ClientV2(api_key="unused", base_url=server.url, timeout=60)
    reply = v2.rerank(model="rankpipe", query=item.query.text, documents=documents, top_n=5)
    assert [item.candidates[r.index].docid for r in reply.results] == want[:5]
    v1 = cohere.Client(api_key="unused", base_url=server.url, timeout=60)
    reply = v1.rerank(model="rankpipe", query=item.query.text, documents=documents, top_n=3)
    assert [item.candidates[r.index].docid for r in reply.results] == want[:3]


def test_no_thread_is_left_behind() -> None:
    """The servers ran in subprocesses; nothing of them runs in the test process."""
    assert not [t for t in threading.enumerate() if t.name == "rankpipe-scheduler"]
