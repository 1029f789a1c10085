"""The `openai` backend against a local fake completions server (standard library `http.server` in a
thread): answers read from log-probabilities or text, retries, timeouts, refused connections,
unusable answers, concurrency, and resuming from the cache after a failure. No model, no vLLM."""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from rankpipe.cache import SQLiteCache
from rankpipe.cli.main import main
from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.errors import InputError, JudgeError
from rankpipe.judges.base import BlockPrompt, PairPrompt
from rankpipe.judges.openai import OpenAIJudge
from rankpipe.judges.spec import make_judge, make_list_judge
from rankpipe.rerank import rerank
from rankpipe.strategies.base import Comparison, PairwiseRun

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
Reply = tuple[int, Any]
"""(HTTP status, JSON body or raw text)"""


@dataclass
class FakeServer:
    """A completions server whose answers come from `respond(request, number)` (number from 1)."""

    respond: Callable[[dict[str, Any], int], Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


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


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[dict[str, Any], int], Reply]], FakeServer]]:
    servers: list[ThreadingHTTPServer] = []

    def start(respond: Callable[[dict[str, Any], int], Reply]) -> FakeServer:
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
                    status, body = fake.respond(request, number)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1
                payload = body if isinstance(body, str) else json.dumps(body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(payload.encode())
                except OSError:  # the client gave up waiting (a timeout test)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        return fake

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def pairs(count: int = 2) -> list[PairPrompt]:
    query = Query("q1", "what do bees eat")
    return [
        PairPrompt(
            query,
            Candidate(f"a{i}", f"Bees feed on nectar and pollen {i}."),
            Candidate(f"b{i}", f"Ants farm aphids {i}."),
        )
        for i in range(count)
    ]


def dead_url() -> str:
    """The URL of a local port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def plain_judge(url: str, options: str = "") -> OpenAIJudge:
    judge = make_judge(f"openai:{MODEL}@{url},format=plain,backoff=0{options}")
    assert isinstance(judge, OpenAIJudge)
    return judge


def test_reads_probabilities_and_usage_from_logprobs(serve) -> None:  # noqa: ANN001
    fake = serve(prefers_a)
    judgments = plain_judge(fake.url).judge(pairs(2))
    assert [j.valid for j in judgments] == [True, True]
    assert judgments[0].p_a == pytest.approx(0.8)
    assert (judgments[0].prompt_tokens, judgments[0].completion_tokens) == (57, 1)
    request = fake.requests[0]
    assert request["path"] == "/v1/completions"
    assert (
        request["model"],
        request["max_tokens"],
        request["temperature"],
        request["logprobs"],
    ) == (MODEL, 1, 0, 20)
    sent = sorted(r["prompt"] for r in fake.requests)  # concurrent requests arrive in any order
    assert all("what do bees eat" in text and text.endswith("\nPassage") for text in sent)
    assert "nectar and pollen 0" in sent[0] and "nectar and pollen 1" in sent[1]


def test_tokens_that_differ_only_by_spaces_count_together(serve) -> None:  # noqa: ANN001
    fake = serve(
        lambda r, n: (
            200,
            completion(" B", {" B": math.log(0.5), "B": math.log(0.1), " A": math.log(0.2)}),
        )
    )
    [judgment] = plain_judge(fake.url).judge(pairs(1))
    assert judgment.p_a == pytest.approx(0.2 / 0.8)


def test_a_choice_missing_from_the_logprobs_gets_the_smallest_listed_probability(serve) -> None:  # noqa: ANN001
    fake = serve(
        lambda r, n: (200, completion(" A", {" A": math.log(0.9), " the": math.log(0.01)}))
    )
    [judgment] = plain_judge(fake.url).judge(pairs(1))
    assert judgment.valid and judgment.p_a == pytest.approx(0.9 / 0.91)


def test_http_500_then_success_is_retried_and_counted(serve) -> None:  # noqa: ANN001
    fake = serve(
        lambda r, n: (500, {"error": {"message": "engine busy"}}) if n == 1 else prefers_a(r, n)
    )
    judge = plain_judge(fake.url)
    [judgment] = judge.judge(pairs(1))
    assert judgment.p_a == pytest.approx(0.8)
    assert len(fake.requests) == 2
    assert judge.client.retried == 1


def test_an_unreadable_answer_is_retried(serve) -> None:  # noqa: ANN001
    fake = serve(lambda r, n: (200, "<html>proxy error</html>") if n == 1 else prefers_a(r, n))
    judge = plain_judge(fake.url)
    assert judge.judge(pairs(1))[0].p_a == pytest.approx(0.8)
    assert judge.client.retried == 1


def test_timeouts_are_retried_then_fail_naming_url_attempts_and_error(serve) -> None:  # noqa: ANN001
    def slow(request: dict[str, Any], number: int) -> Reply:
        time.sleep(1.0)
        return prefers_a(request, number)

    fake = serve(slow)
    judge = plain_judge(fake.url, ",timeout=0.2,retries=2")
    with pytest.raises(JudgeError) as failure:
        judge.judge(pairs(1))
    message = str(failure.value)
    assert fake.url in message and "3 attempts" in message and "no answer within 0.2 s" in message
    assert judge.client.retried == 2


def test_a_refused_connection_fails_with_a_clear_error(serve) -> None:  # noqa: ANN001
    url = dead_url()
    judge = plain_judge(url, ",retries=1")
    with pytest.raises(JudgeError) as failure:
        judge.judge(pairs(4))
    message = str(failure.value)
    assert url in message and "2 attempts" in message and "connection refused" in message


def test_a_client_error_is_the_users_to_fix_and_is_not_retried(serve) -> None:  # noqa: ANN001
    fake = serve(lambda r, n: (404, {"error": {"message": "The model `nope` does not exist."}}))
    with pytest.raises(InputError, match=r"HTTP 404.*does not exist"):
        plain_judge(fake.url).judge(pairs(1))
    assert len(fake.requests) == 1


def test_garbage_answers_are_invalid_scored_half_and_logged_once_per_batch(serve, caplog) -> None:  # noqa: ANN001
    answers = [
        completion(" banana", {" banana": -0.1, " the": -2.0}),
        completion("%%##", None),
        completion(" A", None),
    ]
    fake = serve(lambda r, n: (200, answers[(n - 1) % 3]))
    judge = plain_judge(fake.url, ",concurrency=1")
    with caplog.at_level(logging.WARNING, logger="rankpipe.judges.openai"):
        judgments = judge.judge(pairs(3))
    assert [(j.p_a, j.valid) for j in judgments] == [(0.5, False), (0.5, False), (1.0, True)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2 of 3 answers" in warnings[0]


def test_without_logprobs_the_generated_text_is_parsed(serve) -> None:  # noqa: ANN001
    fake = serve(lambda r, n: (200, completion(" B", None)))
    judgments = plain_judge(fake.url).judge(pairs(2))
    assert [(j.p_a, j.valid) for j in judgments] == [(0.0, True), (0.0, True)]


def test_logprobs_zero_asks_for_none(serve) -> None:  # noqa: ANN001
    fake = serve(lambda r, n: (200, completion(" A", None)))
    judge = plain_judge(fake.url, ",logprobs=0")
    assert judge.judge(pairs(1))[0].p_a == 1.0
    assert "logprobs" not in fake.requests[0]
    assert "logprobs=0" in judge.identity


def test_requests_really_overlap_up_to_the_concurrency(serve) -> None:  # noqa: ANN001
    # each handler waits until 4 requests are in flight at once: sequential requests would break it
    barrier = threading.Barrier(4, timeout=10)

    def gathered(request: dict[str, Any], number: int) -> Reply:
        barrier.wait()
        return prefers_a(request, number)

    fake = serve(gathered)
    judgments = plain_judge(fake.url, ",concurrency=4,retries=0").judge(pairs(8))
    assert len(judgments) == 8 and all(j.valid for j in judgments)
    assert fake.max_in_flight == 4


def test_a_block_comes_back_as_a_permutation_with_repairs_counted(serve) -> None:  # noqa: ANN001
    fake = serve(lambda r, n: (200, completion("3] > [1] > [3] > [9]", None)))
    query = Query("q1", "what do bees eat")
    block = BlockPrompt(query, tuple(Candidate(f"d{i}", f"passage {i}") for i in range(3)))
    judge = make_list_judge(f"openai:{MODEL}@{fake.url},format=plain")
    [ranked] = judge.rank([block])
    assert ranked.order == (2, 0, 1)
    assert ranked.repairs == 3  # a repeat, an identifier out of range, one never named
    request = fake.requests[0]
    assert request["prompt"].endswith("\n[") and "[2] passage 1" in request["prompt"]
    assert request["max_tokens"] >= 3 * 4


def test_the_url_is_not_part_of_the_identity_but_the_prompt_is() -> None:
    first = make_judge(f"openai:{MODEL}@http://127.0.0.1:1/v1,format=plain")
    second = make_judge(
        f"openai:{MODEL}@http://127.0.0.1:2/v1,format=plain,concurrency=3,timeout=5"
    )
    fewshot = make_judge(f"openai:{MODEL}@http://127.0.0.1:1/v1,format=plain,prompt=prp_fewshot")
    assert first.identity == second.identity
    assert first.identity != fewshot.identity
    assert (
        first.identity.startswith(f"openai:{MODEL},prompt=prp#")
        and "format=plain" in first.identity
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (f"openai:{MODEL}", "expected openai:MODEL@URL"),
        (f"openai:{MODEL}@localhost:8000", "must start with http"),
        (
            f"openai:{MODEL}@http://localhost:8000/v1,format=xml",
            "format must be one of chat, plain",
        ),
        (f"openai:{MODEL}@http://localhost:8000/v1,retries=-1", "retries"),
        (f"openai:{MODEL}@http://localhost:8000/v1,concurency=4", "unknown option"),
        (
            f"openai:{MODEL}@http://localhost:8000/v1,prompt=rankgpt",
            "takes a pairwise one",
        ),
    ],
)
def test_bad_specs_are_input_errors(spec: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        make_judge(spec)


def test_chat_format_sends_the_models_chat_template_then_the_answer_prefix(serve) -> None:  # noqa: ANN001
    fake = serve(prefers_a)
    judge = make_judge(f"openai:{MODEL}@{fake.url},prompt=prp_fewshot")
    judge.judge(pairs(1))
    sent = fake.requests[0]["prompt"]
    assert sent.endswith("<|im_start|>assistant\nPassage")
    assert sent.count("<|im_start|>user") == 3  # two worked examples, then the question
    assert "<|im_start|>assistant\nPassage B<|im_end|>" in sent
    assert "format=chat" in judge.identity


@dataclass
class AdjacentPairs:
    """One round asking every adjacent pair (0,1), (1,2), ...; keeps first-stage order."""

    name: ClassVar[str] = "adjacent-pairs"

    def run(self, n: int, top_k: int) -> PairwiseRun:
        yield [Comparison(i, i + 1) for i in range(n - 1)]
        return list(range(n))


def test_a_run_that_fails_midway_resumes_from_the_cache(serve, tmp_path) -> None:  # noqa: ANN001
    items = [
        QueryCandidates(
            Query("q1", "what do bees eat"),
            tuple(Candidate(f"d{i}", f"passage {i}") for i in range(5)),
        )
    ]
    dying = serve(
        lambda r, n: prefers_a(r, n) if n <= 4 else (503, {"error": {"message": "overloaded"}})
    )
    cache = SQLiteCache(tmp_path / "judgments.sqlite")
    spec = f"openai:{MODEL}@{{}},format=plain,concurrency=1,retries=1,backoff=0"
    with pytest.raises(JudgeError, match="503"):
        rerank(items, spec.format(dying.url), AdjacentPairs(), top_k=5, cache=cache, batch_size=2)
    healthy = serve(prefers_a)
    result = rerank(
        items, spec.format(healthy.url), AdjacentPairs(), top_k=5, cache=cache, batch_size=2
    )
    assert len(healthy.requests) == 8 - 4  # 4 pairs x 2 orders; the first 2 batches were cached
    assert result.cost.total()["inferences"] == 4 and result.cost.total()["cache_hits"] == 4


def test_the_rerank_command_reports_a_dead_server_and_how_to_resume(tmp_path, capsys) -> None:  # noqa: ANN001
    url = dead_url()
    output = tmp_path / "run.trec"
    code = main([
        "rerank", "--dataset", "demo", "--depth", "3", "--strategy", "allpairs",
        "--judge", f"openai:{MODEL}@{url},format=plain,retries=1,backoff=0",
        "--output", str(output), "--cache", str(tmp_path / "judgments.sqlite"),
    ])  # fmt: skip
    assert code == 1
    error = capsys.readouterr().err
    assert f"openai server {url}: 2 attempts failed; last error: connection refused" in error
    assert "rerun the same command to resume" in error
    assert not output.exists()
