"""The `openai` backend against servers that answer badly: every shape, type or value outside what
the judge reads is either a counted invalid answer or a JudgeError naming the server, the field and
the value (exit 1 in the CLI, finished judgments kept, the run resumes), never an internal error;
a server dripping its answer a byte at a time cannot hold a request past `timeout`; urllib3's own
retry lines do not reach users."""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fake_server import MODEL, completion, prefers_a
from test_openai_judge import pairs

from rankpipe.cli.main import main
from rankpipe.errors import JudgeError
from rankpipe.judges.openai import OpenAIJudge
from rankpipe.judges.prompts import cut_query
from rankpipe.judges.spec import make_judge


def plain_judge(url: str, options: str = "") -> OpenAIJudge:
    judge = make_judge(f"openai:{MODEL}@{url},format=plain,backoff=0{options}")
    assert isinstance(judge, OpenAIJudge)
    return judge


def with_usage(**usage: Any) -> dict[str, Any]:
    answer = completion(" A", {" A": math.log(0.8), " B": math.log(0.2)})
    answer["usage"] = usage
    return answer


BROKEN = {
    "choices-null-item": ({"choices": [None]}, "choices[0] is None, expected an object"),
    "choices-string-item": ({"choices": ["A"]}, "choices[0] is 'A', expected an object"),
    "choices-null": ({"choices": None}, "choices is None, expected a non-empty list"),
    "choices-empty": ({"choices": []}, "choices is [], expected a non-empty list"),
    "answer-a-list": ([1, 2], "the answer is [1, 2], expected a JSON object"),
    "text-a-number": ({"choices": [{"text": 7}]}, "choices[0].text is 7, expected a string"),
    "logprobs-a-string": (
        {"choices": [{"text": " A", "logprobs": "high"}]},
        "choices[0].logprobs is 'high', expected an object or null",
    ),
    "prompt-tokens-a-word": (
        with_usage(prompt_tokens="many", completion_tokens=1),
        "usage.prompt_tokens is 'many', expected a non-negative integer",
    ),
    "prompt-tokens-negative": (
        with_usage(prompt_tokens=-5, completion_tokens=1),
        "usage.prompt_tokens is -5, expected a non-negative integer",
    ),
    "completion-tokens-huge": (
        with_usage(prompt_tokens=5, completion_tokens=10**30),
        "usage.completion_tokens is 1000000000000000000000000000000",
    ),
    "completion-tokens-fraction": (
        with_usage(prompt_tokens=5, completion_tokens=1.5),
        "usage.completion_tokens is 1.5",
    ),
    "usage-a-list": (
        {**completion(" A"), "usage": [3]},
        "usage is [3], expected an object or null",
    ),
}


@pytest.mark.parametrize("name", BROKEN)
def test_an_unreadable_answer_is_a_judge_error_naming_server_field_and_value(
    serve,
    name: str,  # noqa: ANN001
) -> None:
    body, expected = BROKEN[name]
    fake = serve(lambda r, n: (200, body))
    with pytest.raises(JudgeError) as failure:
        plain_judge(fake.url, ",retries=0").judge(pairs(1))
    message = str(failure.value)
    assert f"openai server {fake.url}: unusable answer: {expected}" in message


BAD_LOGPROBS = {
    "nan": {" A": float("nan"), " B": -1.0},
    "plus-1000": {" A": 1000.0, " B": -1.0},
    "infinite": {" A": float("inf")},
    "a-string": {" A": "-0.1", " B": -1.0},
    "a-bool": {" A": True},
}


@pytest.mark.parametrize("name", BAD_LOGPROBS)
def test_unusable_logprobs_make_a_counted_invalid_answer(
    serve,
    caplog,
    name: str,  # noqa: ANN001
) -> None:
    top = BAD_LOGPROBS[name]
    answer = completion(" A")
    answer["choices"][0]["logprobs"] = {"top_logprobs": [top]}
    fake = serve(lambda r, n: (200, json.dumps(answer)))  # json.dumps writes NaN, Infinity
    with caplog.at_level(logging.WARNING, logger="rankpipe.judges"):
        [judgment] = plain_judge(fake.url).judge(pairs(1))
    assert not judgment.valid and judgment.p_a == 0.5
    assert (judgment.prompt_tokens, judgment.completion_tokens) == (57, 1)
    assert "unusable log-probabilities" in caplog.text and "top_logprobs[0][' A']" in caplog.text


def test_minus_infinity_is_probability_zero_and_tiny_positive_rounding_is_accepted(
    serve,  # noqa: ANN001
) -> None:
    answer = completion(" A")
    answer["choices"][0]["logprobs"] = {"top_logprobs": [{" A": 1e-6, " B": float("-inf")}]}
    fake = serve(lambda r, n: (200, json.dumps(answer)))
    [judgment] = plain_judge(fake.url).judge(pairs(1))
    assert judgment.valid and judgment.p_a == 1.0


def test_setwise_answers_with_unusable_logprobs_are_uniform_and_invalid(
    serve,  # noqa: ANN001
) -> None:
    from rankpipe.data.types import Candidate, Query
    from rankpipe.judges.base import SetPrompt

    answer = completion(" B")
    answer["choices"][0]["logprobs"] = {"top_logprobs": [{" B": float("nan")}]}
    fake = serve(lambda r, n: (200, json.dumps(answer)))
    query = Query("q1", "bees")
    prompt = SetPrompt(query, tuple(Candidate(f"d{i}", f"text {i}") for i in range(3)))
    [judgment] = plain_judge(fake.url).choose([prompt])
    assert not judgment.valid and judgment.probs == pytest.approx((1 / 3,) * 3)


def test_a_long_query_is_cut_to_the_prompts_max_words(serve) -> None:  # noqa: ANN001
    fake = serve(prefers_a)
    judge = plain_judge(fake.url)
    words = judge.template.max_words
    assert cut_query("what  do bees\teat", words) == "what  do bees\teat"  # as given
    from rankpipe.data.types import Candidate, Query
    from rankpipe.judges.base import PairPrompt

    long = " ".join(f"w{i}" for i in range(20_000))  # about 128,000 characters
    prompt = PairPrompt(Query("q1", long), Candidate("a", "nectar"), Candidate("b", "aphids"))
    judge.judge([prompt])
    [sent] = fake.prompts()
    assert re.search(rf"\bw{words - 1}\b", sent) and not re.search(rf"\bw{words}\b", sent)
    assert len(sent) < 10_000


class DripServer:
    """Sends a valid completion's headers, then its body one byte every `every` seconds (or, with
    `headers_too`, the status line and headers that slowly as well)."""

    def __init__(self, every: float, headers_too: bool = False) -> None:
        self.every, self.headers_too = every, headers_too
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"
        self.connections = 0
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # stopped
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        body = json.dumps(prefers_a({}, 1)[1]).encode()
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        with conn:
            conn.recv(65536)
            try:
                if not self.headers_too:
                    conn.sendall(head)
                for byte in (head if self.headers_too else b"") + body:
                    if self.stopped.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(self.every)
            except OSError:  # the client hung up: what the deadline is for
                return

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers-and-body"])
def test_a_dripping_server_cannot_hold_a_request_past_the_timeout(headers_too: bool) -> None:
    drip = DripServer(every=0.1, headers_too=headers_too)
    try:
        judge = plain_judge(drip.url, ",timeout=1,retries=0")
        started = time.monotonic()
        with pytest.raises(JudgeError) as failure:
            judge.judge(pairs(1))
        took = time.monotonic() - started
        assert took < 2.0, f"held {took:.1f} s"
        assert f"openai server {drip.url}: 1 attempt failed" in str(failure.value)
        assert "no answer within 1 s (the whole request" in str(failure.value)
        judge = plain_judge(drip.url, ",timeout=0.5,retries=2")  # each attempt has its deadline
        started = time.monotonic()
        with pytest.raises(JudgeError) as failure:
            judge.judge(pairs(1))
        assert time.monotonic() - started < 3.0
        # urllib3 retries an answer cut off before its headers, not one cut off in its body
        attempts = 3 if headers_too else 1
        assert judge.client.retries == attempts - 1
        assert f"{attempts} attempt" in str(failure.value)
    finally:
        drip.stop()


def cached_rows(cache: Path) -> int:
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0])


def test_the_cli_exits_1_naming_the_field_and_keeps_finished_judgments(
    serve,
    capsys,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    bad = with_usage(prompt_tokens="many", completion_tokens=1)
    fake = serve(lambda r, n: (200, bad) if n > 10 else prefers_a(r, n))
    cache, output = tmp_path / "cache.sqlite", tmp_path / "run.trec"
    argv = ["rerank", "--dataset", "demo", "--depth", "4", "--top-k", "2", "--strategy"]
    argv += ["allpairs", "--batch-size", "4", "--cache", str(cache), "--output", str(output)]
    spec = f"openai:{MODEL}@{fake.url},format=plain,backoff=0,retries=0,concurrency=1"
    assert main([*argv, "--judge", spec]) == 1
    err = capsys.readouterr().err
    assert "rankpipe rerank: judge failed: openai server" in err
    assert "usage.prompt_tokens is 'many', expected a non-negative integer" in err
    assert "internal error" not in err and not output.exists()
    assert cached_rows(cache) == 10
    good = serve(prefers_a)
    spec = spec.replace(fake.url, good.url)
    assert main([*argv, "--judge", spec]) == 0
    total = cached_rows(cache)
    assert len(good.requests) == total - 10  # the ten finished ones were not asked again


def test_urllib3_retry_lines_do_not_reach_users(tmp_path: Path) -> None:
    drip = DripServer(every=0.05, headers_too=True)  # each attempt cut: urllib3 retries it
    try:
        spec = f"openai:{MODEL}@{drip.url},format=plain,backoff=0,retries=1,timeout=0.3"
        done = subprocess.run(
            [sys.executable, "-m", "rankpipe", "rerank", "--dataset", "demo", "--depth", "2"]
            + ["--judge", spec, "--no-cache", "--output", str(tmp_path / "run.trec")],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        drip.stop()
    assert done.returncode == 1, done.stderr
    assert "Retrying" not in done.stderr and "CountedRetry" not in done.stderr
    assert "2 attempts failed; last error: no answer within 0.3 s" in done.stderr
