"""The `openai` backend: any OpenAI-compatible completions server (`vllm serve`, TGI, llama.cpp's
server), over plain HTTP with `requests`.

    openai:MODEL@URL[,concurrency=8,timeout=60,retries=3,backoff=0.5,logprobs=20,format=chat,...]

URL is the API base, as OpenAI clients take it (e.g. http://localhost:8000/v1); the judge POSTs to
URL/completions, one prompt per request, up to `concurrency` requests at once. A server such as
`vllm serve` batches the requests it holds at once: for throughput raise both `concurrency` (e.g.
64) and the executor's --batch-size, which bounds the prompts the judge receives per call. A
server's API key, when it needs one, comes from $OPENAI_API_KEY (never from the spec, which lands
in logs and caches).

Pairwise: the prompt ends where the answer letter comes (PRP's answer prefix, "Passage"); the
server generates one token (temperature 0) and returns its top `logprobs` alternatives, from which
P(A) is read (`choice_probability`). A server that offers no log-probabilities (or `logprobs=0`) is
read from its generated text (`parse_choice`: P(A) is 1 or 0). An answer that names neither choice
is scored 0.5, marked invalid, and counted in one warning per batch.

Listwise (`rank`, prompt `list_prompt`, default rankgpt): greedy generation of a permutation, read
by `parse_permutation`.

`format=chat` (default) renders prompts with the chat template of the model's tokenizer, loaded
here (`tokenizer=ID`, default MODEL, resolved by `rankpipe.models.resolve_model`), then appends the
answer prefix; `format=plain` sends the template's text and the answer prefix without chat markup
(base models, or models whose tokenizer is not at hand).

Failures: timeouts (`timeout` seconds per request), refused connections, HTTP 5xx and 429 are
retried `retries` times, waiting `backoff` seconds and doubling; after the last retry a JudgeError
names the URL, the attempts and the last error (finished batches are cached: rerunning resumes).
Other HTTP 4xx answers (unknown model, bad request) are the user's to fix: InputError at once.

Identity: backend, model name as given, both prompts by name and digest, format and, when given,
tokenizer and logprobs. The URL is left out: the same model behind two servers gives the same
answers, so their judgments share one cache.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from rankpipe.data.types import Qrels
from rankpipe.errors import InputError, JudgeError
from rankpipe.judges.answers import (
    choice_probability,
    parse_choice,
    parse_permutation,
    warn_repairs,
)
from rankpipe.judges.base import BlockJudgment, BlockPrompt, Judgment, PairPrompt
from rankpipe.judges.prompts import (
    has_chat_template,
    load_prompt_of_kind,
    prompts_identity,
    render_block,
    render_pair,
)
from rankpipe.judges.spec import JudgeSpec, check_options, float_option, int_option

log = logging.getLogger(__name__)

OPTIONS = {
    "concurrency",
    "timeout",
    "retries",
    "backoff",
    "logprobs",
    "format",
    "tokenizer",
    "prompt",
    "list_prompt",
}
FORMATS = ("chat", "plain")
RETRIED_STATUS = {408, 429, 500, 502, 503, 504}
DEFAULT_LOGPROBS = 20


class TransientError(Exception):
    """A failed attempt worth retrying (timeout, refused connection, 5xx, unreadable answer)."""


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` more attempts after the first, waiting `backoff` seconds and doubling."""

    retries: int = 3
    backoff: float = 0.5
    timeout: float = 60.0


class CompletionsClient:
    """POSTs completion requests to one server, concurrently, with timeouts and retries."""

    def __init__(self, url: str, model: str, policy: RetryPolicy, concurrency: int) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.policy = policy
        self.concurrency = concurrency
        self.retried = 0
        """Attempts that failed and were tried again, over the client's life."""
        self._lock = threading.Lock()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=concurrency)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            self._session.headers["Authorization"] = f"Bearer {key}"

    def complete_many(self, payloads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The server's answers to `payloads`, in order; the first request that fails for good stops
        the others and raises."""
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai-judge")
        futures = [pool.submit(self._complete, payload, stop) for payload in payloads]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise failed.exception()  # type: ignore[misc]
        pool.shutdown()
        return [f.result() for f in futures]

    def _complete(self, payload: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
        attempts = self.policy.retries + 1
        delay = self.policy.backoff
        for attempt in range(1, attempts + 1):
            try:
                return self._post(payload)
            except TransientError as error:
                if attempt == attempts:
                    raise JudgeError(
                        f"openai server {self.url}: {attempts} attempts failed; last error: {error}"
                    ) from None
                if stop.is_set():
                    raise JudgeError(f"openai server {self.url}: stopped after {error}") from None
                with self._lock:
                    self.retried += 1
                log.info(
                    "openai server %s: attempt %d of %d failed (%s); retrying in %.1f s",
                    self.url,
                    attempt,
                    attempts,
                    error,
                    delay,
                )
                if stop.wait(delay):
                    raise JudgeError(f"openai server {self.url}: stopped after {error}") from None
                delay *= 2
        raise AssertionError("unreachable")

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._session.post(
                f"{self.url}/completions",
                json={"model": self.model, **payload},
                timeout=self.policy.timeout,
            )
        except requests.Timeout:
            raise TransientError(f"no answer within {self.policy.timeout:g} s") from None
        except requests.ConnectionError as error:
            refused = "refused" in str(error).lower()
            raise TransientError(
                "connection refused (is the server running?)"
                if refused
                else f"cannot connect ({error})"
            ) from None
        if response.status_code in RETRIED_STATUS:
            raise TransientError(f"HTTP {response.status_code}: {_server_message(response)}")
        if response.status_code >= 400:
            raise InputError(
                f"openai server {self.url} refused the request (HTTP {response.status_code}): "
                f"{_server_message(response)}"
            )
        try:
            answer = response.json()
            answer["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise TransientError(f"unreadable answer: {response.text[:200]!r}") from None
        return answer  # type: ignore[no-any-return]


def _server_message(response: requests.Response) -> str:
    try:
        record = response.json()
        message = record.get("error", record) if isinstance(record, dict) else record
        if isinstance(message, dict):
            message = message.get("message", message)
        return str(message)[:300]
    except ValueError:
        return response.text[:300] or response.reason


def block_max_tokens(size: int) -> int:
    """Enough tokens for a permutation of `size` identifiers written "[12] > [3] > ..."."""
    return 6 * size + 8


class OpenAIJudge:
    """Pairwise and listwise judgments from an OpenAI-compatible completions server."""

    reads_text = True

    def __init__(
        self,
        model: str,
        url: str,
        *,
        prompt: str = "prp",
        list_prompt: str = "rankgpt",
        chat_format: str = "chat",
        tokenizer: str | None = None,
        logprobs: int = DEFAULT_LOGPROBS,
        concurrency: int = 8,
        policy: RetryPolicy = RetryPolicy(),
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"openai judge: URL {url!r} must start with http:// or https://")
        if chat_format not in FORMATS:
            raise InputError(
                f"openai judge: format must be one of {', '.join(FORMATS)}, got {chat_format!r}"
            )
        if (
            min(concurrency - 1, policy.retries, policy.backoff, logprobs) < 0
            or policy.timeout <= 0
        ):
            raise InputError(
                "openai judge: concurrency must be at least 1; retries, backoff and logprobs at "
                "least 0; timeout above 0"
            )
        self.model = model
        self.template = load_prompt_of_kind(prompt, "pairwise", "prompt", "openai")
        self.list_template = load_prompt_of_kind(list_prompt, "listwise", "list_prompt", "openai")
        self.logprobs = logprobs
        self.client = CompletionsClient(url, model, policy, concurrency)
        self.tokenizer = load_tokenizer(tokenizer or model) if chat_format == "chat" else None
        options = f",format={chat_format}"
        options += f",tokenizer={tokenizer}" if tokenizer else ""
        options += f",logprobs={logprobs}" if logprobs != DEFAULT_LOGPROBS else ""
        self.identity = (
            f"openai:{model},{prompts_identity(self.template, self.list_template)}{options}"
        )

    def judge(self, prompts: Sequence[PairPrompt]) -> list[Judgment]:
        request: dict[str, Any] = {"max_tokens": 1, "temperature": 0}
        if self.logprobs:
            request["logprobs"] = self.logprobs
        payloads = [
            {
                **request,
                "prompt": render_pair(
                    self.template, self.tokenizer, p.query.text, p.a.text, p.b.text
                ),
            }
            for p in prompts
        ]
        judgments = [self._pair_judgment(answer) for answer in self.client.complete_many(payloads)]
        invalid = sum(not j.valid for j in judgments)
        if invalid:
            log.warning(
                "openai server %s: %d of %d answers were neither %s; scored 0.5",
                self.client.url,
                invalid,
                len(judgments),
                " nor ".join(self.template.choices),
            )
        return judgments

    def _pair_judgment(self, answer: dict[str, Any]) -> Judgment:
        """P(A) from the answer token's top log-probabilities, else from the generated text."""
        choice = answer["choices"][0]
        top = _first_top_logprobs(choice)
        if top:
            p_a = choice_probability(top, self.template.choices)
        else:
            named = parse_choice(
                str(choice.get("text", "")), self.template.choices, self.template.answer_prefix
            )
            p_a = None if named is None else 1.0 - named
        prompt_tokens, completion_tokens = _usage(answer)
        if p_a is None:
            return Judgment(0.5, prompt_tokens, completion_tokens, valid=False)
        return Judgment(p_a, prompt_tokens, completion_tokens)

    def rank(self, prompts: Sequence[BlockPrompt]) -> list[BlockJudgment]:
        payloads = [
            {
                "prompt": render_block(
                    self.list_template, self.tokenizer, p.query.text, [c.text for c in p.passages]
                ),
                "max_tokens": block_max_tokens(len(p.passages)),
                "temperature": 0,
            }
            for p in prompts
        ]
        judgments = []
        for prompt, answer in zip(prompts, self.client.complete_many(payloads), strict=True):
            text = self.list_template.answer_prefix + str(answer["choices"][0].get("text", ""))
            order, repairs = parse_permutation(text, len(prompt.passages))
            judgments.append(BlockJudgment(order, *_usage(answer), repairs=repairs))
        warn_repairs(log, f"openai server {self.client.url}", judgments)
        return judgments


def _usage(answer: dict[str, Any]) -> tuple[int, int]:
    usage = answer.get("usage") or {}
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def _first_top_logprobs(choice: dict[str, Any]) -> dict[str, float] | None:
    """The first generated token's alternatives (legacy completions format), if the server sent
    them."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return None
    top = logprobs.get("top_logprobs")
    if not top or not isinstance(top[0], dict):
        return None
    return {str(token): float(lp) for token, lp in top[0].items()}


def load_tokenizer(name: str) -> Any:
    """The tokenizer of a model named by Hugging Face ID or path (offline copies included)."""
    from transformers import AutoTokenizer

    from rankpipe.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name))
    if not has_chat_template(tokenizer):
        raise InputError(f"model {name}: its tokenizer has no chat template; use format=plain")
    return tokenizer


def _split_target(spec: JudgeSpec) -> tuple[str, str]:
    model, at, url = spec.target.partition("@")
    if not (model and at and url):
        raise InputError(
            f"judge {spec}: expected openai:MODEL@URL, e.g. "
            "openai:HuggingFaceTB/SmolLM2-135M-Instruct@http://localhost:8000/v1"
        )
    return model, url


def _build(spec: JudgeSpec) -> OpenAIJudge:
    check_options(spec, OPTIONS)
    model, url = _split_target(spec)
    return OpenAIJudge(
        model,
        url,
        prompt=spec.options.get("prompt", "prp"),
        list_prompt=spec.options.get("list_prompt", "rankgpt"),
        chat_format=spec.options.get("format", "chat"),
        tokenizer=spec.options.get("tokenizer"),
        logprobs=int_option(spec, "logprobs", DEFAULT_LOGPROBS),
        concurrency=int_option(spec, "concurrency", 8),
        policy=RetryPolicy(
            retries=int_option(spec, "retries", 3),
            backoff=float_option(spec, "backoff", 0.5),
            timeout=float_option(spec, "timeout", 60.0),
        ),
    )


def pairwise_judge(spec: JudgeSpec, qrels: Qrels | None = None) -> OpenAIJudge:
    return _build(spec)


list_judge = pairwise_judge
