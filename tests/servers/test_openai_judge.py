"""The `openai` backend against one local fake completions server (tests/servers/fake_server.py):
answers read from log-probabilities or text, urllib3's retries (counted, Retry-After honoured),
timeouts, refused connections, unusable answers, concurrency, the answers of a failed call kept,
and resuming from the cache after a failure. No model, no vLLM."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from fake_server import MODEL, Reply, completion, dead_url, prefers_a

from rankpipe.cache import SQLiteCache
from rankpipe.cli.main import main
from rankpipe.data.types import Candidate, Query, QueryCandidates
from rankpipe.errors import InputError, JudgeError
from rankpipe.judges.base import BlockPrompt, PairPrompt
from rankpipe.judges.openai import OpenAIJudge
from rankpipe.judges.spec import make_judge, make_list_judge
from rankpipe.reranker import rerank
from rankpipe.strategies.base import Comparison, PairwiseRun


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
    assert judge.client.retries == 1


def test_retry_after_is_honoured_for_503_and_each_retry_is_logged(serve, caplog) -> None:  # noqa: ANN001
    fake = serve(
        lambda r, n: (
            (503, {"error": {"message": "overloaded"}}, {"Retry-After": "1"})
            if n == 1
            else prefers_a(r, n)
        )
    )
    judge = plain_judge(fake.url)  # backoff=0: only Retry-After makes it wait
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="rankpipe.judges"):
        [judgment] = judge.judge(pairs(1))
    assert time.monotonic() - started >= 0.9
    assert judgment.p_a == pytest.approx(0.8) and judge.client.retries == 1
    [line] = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert f"openai server {fake.url}: HTTP 503; retrying in 1.0 s (2 more retries" in line


def test_429_is_retried_with_jittered_backoff_from_urllib3(serve) -> None:  # noqa: ANN001
    fake = serve(lambda r, n: (429, {"error": "slow down"}) if n <= 2 else prefers_a(r, n))
    judge = plain_judge(fake.url)
    assert judge.judge(pairs(1))[0].valid and judge.client.retries == 2
    retry = judge.client.endpoints[0]._session.get_adapter(fake.url).max_retries
    assert (retry.total, retry.backoff_factor, retry.backoff_jitter) == (3, 0.0, 0.0)
    jittered = make_judge(f"openai:{MODEL}@{fake.url},format=plain,backoff=0.5")
    assert isinstance(jittered, OpenAIJudge)
    retry = jittered.client.endpoints[0]._session.get_adapter(fake.url).max_retries
    assert (retry.backoff_factor, retry.backoff_jitter, retry.respect_retry_after_header) == (
        0.5,
        0.5,
        True,
    )
    assert {429, 503} <= set(retry.status_forcelist) and "POST" in retry.allowed_methods


def test_an_unreadable_answer_fails_that_prompt_and_keeps_the_others(serve) -> None:  # noqa: ANN001
    garbled = "nectar and pollen 1"
    fake = serve(
        lambda r, n: (
            (200, "<html>proxy error</html>") if garbled in r["prompt"] else prefers_a(r, n)
        )
    )
    judge = plain_judge(fake.url, ",concurrency=1")
    with pytest.raises(JudgeError) as failure:
        judge.judge(pairs(3))
    assert "unreadable answer '<html>proxy error</html>'" in str(failure.value)
    assert judge.client.retries == 0  # nothing to gain from asking the same server again
    assert set(failure.value.partial) == {0}  # one at a time, in order: prompt 2 was never sent
    assert all(j.p_a == pytest.approx(0.8) for j in failure.value.partial.values())


def test_a_call_that_fails_part_way_keeps_the_answers_that_came(serve) -> None:  # noqa: ANN001
    # the server dies for good after 3 answers: those 3 travel with the error
    fake = serve(lambda r, n: prefers_a(r, n) if n <= 3 else (500, {"error": "dead"}))
    judge = plain_judge(fake.url, ",concurrency=1,retries=1")
    with pytest.raises(JudgeError) as failure:
        judge.judge(pairs(6))
    error = failure.value
    assert "HTTP 500: dead" in str(error) and "3 of 6 prompts of the call were answered" in str(
        error
    )
    assert len(error.partial) == 3 and all(j.valid for j in error.partial.values())
    assert len(fake.requests) == 3 + 2  # the failing prompt's two attempts; the rest never sent


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
    assert judge.client.retries == 2


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
    with caplog.at_level(logging.WARNING, logger="rankpipe.judges"):
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


def test_answers_of_a_batch_that_failed_part_way_are_not_paid_again(serve, tmp_path) -> None:  # noqa: ANN001
    items = [
        QueryCandidates(
            Query("q1", "what do bees eat"),
            tuple(Candidate(f"d{i}", f"passage {i}") for i in range(5)),
        )
    ]
    dying = serve(lambda r, n: prefers_a(r, n) if n <= 5 else (503, {"error": "overloaded"}))
    cache = SQLiteCache(tmp_path / "judgments.sqlite")
    spec = f"openai:{MODEL}@{{}},format=plain,concurrency=1,retries=0"
    with pytest.raises(JudgeError, match="5 of 8 prompts of the call were answered"):
        rerank(items, spec.format(dying.url), AdjacentPairs(), top_k=5, cache=cache, batch_size=8)
    healthy = serve(prefers_a)
    result = rerank(
        items, spec.format(healthy.url), AdjacentPairs(), top_k=5, cache=cache, batch_size=8
    )
    assert len(healthy.requests) == 8 - 5  # one batch of 8 prompts; 5 were answered and cached
    assert result.cost.total()["cache_hits"] == 5


def test_an_answer_cut_off_mid_body_is_a_judge_error_not_a_crash(serve) -> None:  # noqa: ANN001
    fake = serve(lambda r, n: (200, '{"choices": [', {"Content-Length": "500"}))
    with pytest.raises(JudgeError, match=r"openai server .*: broken answer"):
        plain_judge(fake.url).judge(pairs(1))


def test_close_lets_go_of_the_connections_to_the_servers(serve) -> None:  # noqa: ANN001
    fake = serve(prefers_a)
    judge = plain_judge(fake.url)
    judge.judge(pairs(2))
    pools = judge.client.endpoints[0]._session.get_adapter(fake.url).poolmanager.pools
    assert len(pools) == 1
    judge.close()
    assert len(pools) == 0
