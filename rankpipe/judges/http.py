"""The HTTP transport of the `openai` judge: completion requests to one or more OpenAI-compatible
servers (replicas of one model) over `requests`, with urllib3's retries, whole-request deadlines,
rendezvous routing and failover. It knows nothing of prompts or judgments: `CompletionsClient`
takes request payloads and a routing key per payload (the query id) and hands back the checked
completions (`answers.read_completion`) by position.

Several servers: each query's requests go to one server (rendezvous hashing of the query id over
the URLs), so the prefixes they share (instruction, query, passage A) stay in that server's prefix
cache; within a call, requests are sent grouped by query and by their prompt. A server that fails a
request for good is marked down (a warning) and that query's requests go to its next server in the
same stable order; a down server is tried again `recheck` seconds later. A request fails only when
every server has failed it. Up to `concurrency` requests are in flight at each server.

Failures: urllib3's `Retry`, mounted on the session, retries timeouts (`timeout` seconds per
attempt), refused connections and HTTP 408/429/5xx up to `retries` times, with urllib3's jittered
exponential backoff (the first retry at once, then `backoff` x 2^(n-1) seconds plus up to `backoff`
of random jitter, at most 60 s) and the server's Retry-After honoured for 429 and 503 (at most
60 s). Every retry is counted (`CompletionsClient.retries`) and logged. After the last retry that
server is down for the request (above); when all are, the call ends with a JudgeError naming each
server's last error, beside the answers that did come (`complete_many`), which the judge keeps. An
answer that is not a completion (a proxy's HTML page, a cut connection, a shape
`answers.read_completion` cannot read) is not retried on that server but sent to the next one.
Other HTTP 4xx answers (unknown model, bad request) are the user's to fix: InputError at once.
urllib3's own retry lines (`Retrying (CountedRetry(...))`) are silenced by the CLI: each retry is
logged here, in words.

Deadlines: `timeout` bounds each attempt as a whole (connecting, sending, the headers and every
byte of the body), not each read: a `Deadline` armed as the request is sent shuts the socket down
when it passes, so a server dripping its answer a byte at a time holds a request `timeout` seconds
at most per attempt. (requests and urllib3 offer only per-read timeouts; running each request in
a thread of its own to abandon it would leave the connection and the thread behind.)

A server's API key, when it needs one, comes from $OPENAI_API_KEY.
`CompletionsClient.prefix_cache()` sums vLLM's prefix-cache counters over the servers (their
Prometheus `/metrics` pages)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from rankpipe.errors import InputError, JudgeError
from rankpipe.judges.answers import BadAnswer, Completion, read_completion
from rankpipe.judges.telemetry import PrefixCacheStats, prefix_cache_from_prometheus

log = logging.getLogger(__name__)

RETRIED_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_WAIT = 60.0
"""Seconds: the longest backoff, and the longest Retry-After honoured."""


class TransientError(Exception):
    """A server failed a request after its retries (timeout, refused connection, 5xx: `down`), or
    sent an answer that is not a completion (not `down`: the next server gets the request)."""

    def __init__(self, message: str, down: bool = True) -> None:
        super().__init__(message)
        self.down = down


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` more attempts after the first, backing off from `backoff` seconds; `timeout`
    seconds per attempt; a down server is tried again after `recheck` seconds."""

    retries: int = 3
    backoff: float = 0.5
    timeout: float = 60.0
    recheck: float = 30.0

    def retry(self, on_retry: Callable[[Retry, str, float], None]) -> Retry:
        """urllib3's Retry for one session: POST retried, jittered backoff, Retry-After honoured."""
        return CountedRetry(
            total=self.retries,
            allowed_methods=frozenset({"POST"}),
            status_forcelist=RETRIED_STATUS,
            backoff_factor=self.backoff,
            backoff_jitter=self.backoff,
            backoff_max=MAX_WAIT,
            respect_retry_after_header=True,
            raise_on_status=False,
            on_retry=on_retry,
        )


class CountedRetry(Retry):
    """urllib3's Retry, reporting every retry it grants to `on_retry(next_retry, what_failed,
    seconds_to_wait)`, and
    honouring Retry-After up to MAX_WAIT seconds."""

    def __init__(
        self, *args: Any, on_retry: Callable[[Retry, str, float], None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.on_retry = on_retry

    def new(self, **kwargs: Any) -> CountedRetry:
        fresh = super().new(**kwargs)
        fresh.on_retry = self.on_retry
        return fresh  # type: ignore[return-value]

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> CountedRetry:
        # raises MaxRetryError when no retry is left
        granted = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.on_retry is not None:
            failure = granted.history[-1]
            what = f"HTTP {failure.status}" if failure.status else str(failure.error)
            deadline = _current_deadline()
            if deadline is not None and deadline.expired:
                what = _deadline_passed(deadline.seconds)
            wait = granted.get_backoff_time()
            if response is not None and self.respect_retry_after_header:
                wait = granted.get_retry_after(response) or wait
            self.on_retry(granted, what, wait)
        return granted

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, MAX_WAIT)


class Deadline:
    """The whole-request deadline of one attempt: `seconds` from the moment a request is sent
    (connecting, sending, the headers and every byte of the body), after which the connection's
    socket is shut down, so a server that drips its answer a byte at a time cannot hold a request
    longer than that. requests' own `timeout` bounds each read, not their sum.

    `arm(connection)` is called (by `_WatchedConnection`) as each attempt starts; urllib3's retry
    then makes a fresh attempt with a fresh deadline (a body cut off after the headers came is not
    retried by urllib3). `expired` says whether the last attempt was cut off, `attempts` how many
    were made."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.attempts = 0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def arm(self, connection: HTTPConnection) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self.expired = False
            self.attempts += 1
            self._timer = threading.Timer(self.seconds, self._expire, (connection,))
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _expire(self, connection: HTTPConnection) -> None:
        with self._lock:
            self.expired = True
            self._timer = None
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once


_deadlines = threading.local()


def _current_deadline() -> Deadline | None:
    return getattr(_deadlines, "current", None)


class _WatchedConnection(HTTPConnection):
    """urllib3's connection, arming the calling thread's Deadline as each attempt starts: when it
    connects (urllib3 connects an HTTPS connection, TLS handshake included, before sending), or
    when it sends the request on a connection already open."""

    _armed_by_connect = False
    _sending = False

    def connect(self) -> None:
        deadline = _current_deadline()
        if deadline is not None and not self._sending:
            deadline.arm(self)
            self._armed_by_connect = True
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        deadline = _current_deadline()
        if deadline is not None and not self._armed_by_connect:
            deadline.arm(self)
        self._armed_by_connect = False
        self._sending = True  # http.client connects in here for plain HTTP: the same attempt
        try:
            super().request(*args, **kwargs)
        finally:
            self._sending = False


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections honour the calling thread's Deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class Endpoint:
    """One server: a session with the retry policy mounted, at most `concurrency` requests in
    flight, and whether it is down (until when)."""

    def __init__(
        self, url: str, policy: RetryPolicy, concurrency: int, on_retry: Callable[..., None]
    ) -> None:
        self.url = url.rstrip("/")
        self.policy = policy
        self.slots = threading.BoundedSemaphore(concurrency)
        self.down_until = 0.0
        self.last_error = ""
        self._session = requests.Session()
        adapter = _DeadlineAdapter(
            pool_connections=1,
            pool_maxsize=concurrency,
            max_retries=policy.retry(lambda retry, what, wait: on_retry(self, retry, what, wait)),
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            self._session.headers["Authorization"] = f"Bearer {key}"

    def close(self) -> None:
        """Close the session's pooled connections (a later request opens new ones)."""
        self._session.close()

    def prefix_cache(self) -> PrefixCacheStats:
        """The server's prefix-cache counters from its Prometheus page (vLLM serves it at the URL's
        root: http://HOST:PORT/metrics)."""
        root = self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url
        try:
            response = self._session.get(f"{root}/metrics", timeout=self.policy.timeout)
            response.raise_for_status()
        except requests.RequestException as error:
            raise JudgeError(
                f"openai server {self.url}: cannot read {root}/metrics ({error})"
            ) from None
        return prefix_cache_from_prometheus(response.text)

    def is_up(self) -> bool:
        """Up, or down long enough to be tried again."""
        return time.monotonic() >= self.down_until

    def post(self, model: str, payload: dict[str, Any]) -> Completion:
        """The server's completion for one request, after urllib3's retries, each attempt within
        `timeout` seconds in all; TransientError when it fails for good or answers with something
        that is not a readable completion (naming the field and the value), InputError when the
        server refuses the request itself."""
        attempts = self.policy.retries + 1
        deadline = Deadline(self.policy.timeout)
        _deadlines.current = deadline
        try:
            response = self._session.post(
                f"{self.url}/completions",
                json={"model": model, **payload},
                timeout=self.policy.timeout,
            )
        except requests.RequestException as error:
            raise self._failure(error, deadline, attempts) from None
        finally:
            deadline.cancel()
            _deadlines.current = None
        if response.status_code in RETRIED_STATUS:
            raise self._gave_up(
                attempts, f"HTTP {response.status_code}: {_server_message(response)}"
            )
        if response.status_code >= 400:
            raise InputError(
                f"openai server {self.url} refused the request (HTTP {response.status_code}): "
                f"{_server_message(response)}"
            )
        try:
            answer = response.json()
        except ValueError:
            self.last_error = f"openai server {self.url}: unreadable answer {response.text[:200]!r}"
            raise TransientError(self.last_error, down=False) from None
        try:
            return read_completion(answer)
        except BadAnswer as error:
            self.last_error = f"openai server {self.url}: unusable answer: {error}"
            raise TransientError(self.last_error, down=False) from None

    def _failure(
        self, error: requests.RequestException, deadline: Deadline, attempts: int
    ) -> TransientError:
        """What a failed request means: the server is down for now (no answer in time, refused,
        cut off by the deadline), or only this answer was broken (the next server gets it)."""
        if deadline.expired:
            return self._gave_up(deadline.attempts, _deadline_passed(self.policy.timeout))
        if isinstance(error, requests.Timeout):  # a connect timeout
            return self._gave_up(attempts, f"no answer within {self.policy.timeout:g} s")
        if isinstance(error, requests.ConnectionError):
            return self._gave_up(attempts, _connection_problem(error, self.policy.timeout))
        # e.g. a body cut off: not urllib3's to retry
        self.last_error = f"openai server {self.url}: broken answer ({error})"
        return TransientError(self.last_error, down=False)

    def _gave_up(self, attempts: int, error: str) -> TransientError:
        noun = "attempt" if attempts == 1 else "attempts"
        self.last_error = f"openai server {self.url}: {attempts} {noun} failed; last error: {error}"
        return TransientError(self.last_error)


def _deadline_passed(seconds: float) -> str:
    return f"no answer within {seconds:g} s (the whole request, up to its last byte)"


def _connection_problem(error: requests.ConnectionError, timeout: float) -> str:
    reason = getattr(error.args[0], "reason", None) if error.args else None
    if isinstance(reason, ReadTimeoutError):
        return f"no answer within {timeout:g} s"
    if "refused" in str(error).lower():
        return "connection refused (is the server running?)"
    return f"cannot connect ({error})"


def _server_message(response: requests.Response) -> str:
    try:
        record = response.json()
        message = record.get("error", record) if isinstance(record, dict) else record
        if isinstance(message, dict):
            message = message.get("message", message)
        return str(message)[:300]
    except ValueError:
        return response.text[:300] or response.reason


def _rank(url: str, key: str) -> bytes:
    return hashlib.blake2b(f"{url}\0{key}".encode(), digest_size=8).digest()


class _Stopped(Exception):
    """A request not sent because another one of its call failed for good."""


class CompletionsClient:
    """POSTs completion requests to one or more servers, concurrently, each query on its own
    server, failing over to the others."""

    def __init__(
        self, urls: Sequence[str], model: str, policy: RetryPolicy, concurrency: int
    ) -> None:
        self.model = model
        self.policy = policy
        self.concurrency = concurrency
        self.endpoints = [Endpoint(url, policy, concurrency, self._retried) for url in urls]
        self.retries = 0
        """Retries urllib3 made, over the client's life."""
        self.failovers = 0
        """Requests answered by a server other than their query's first (it was down)."""
        self.requests = {endpoint.url: 0 for endpoint in self.endpoints}
        """Requests answered, by server."""
        self._lock = threading.Lock()

    @property
    def urls(self) -> list[str]:
        return [endpoint.url for endpoint in self.endpoints]

    def close(self) -> None:
        """Close every server's pooled connections."""
        for endpoint in self.endpoints:
            endpoint.close()

    def prefix_cache(self) -> PrefixCacheStats:
        """The prefix-cache counters of all servers together (vLLM's, from their /metrics)."""
        return sum((e.prefix_cache() for e in self.endpoints), PrefixCacheStats())

    def route(self, key: str) -> list[Endpoint]:
        """The servers for a query, in the order it tries them: the same order in every process
        (rendezvous hashing), and a server's removal moves only its own queries."""
        return sorted(self.endpoints, key=lambda e: _rank(e.url, key), reverse=True)

    def complete_many(
        self, payloads: Sequence[dict[str, Any]], keys: Sequence[str]
    ) -> tuple[dict[int, Completion], JudgeError | None]:
        """The servers' answers to `payloads` (by position), each routed by its query `key`, and
        the error that stopped the call, if any: once one request fails for good, requests not yet
        sent are not sent, and those in flight are kept when they succeed. InputError at once."""
        stop = threading.Event()
        order = sorted(range(len(payloads)), key=lambda i: (keys[i], str(payloads[i]["prompt"])))
        workers = max(1, min(len(payloads), self.concurrency * len(self.endpoints)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-judge") as pool:
            futures = {i: pool.submit(self._complete, payloads[i], keys[i], stop) for i in order}
        answers: dict[int, Completion] = {}
        failure: JudgeError | None = None
        for i in range(len(payloads)):
            error = futures[i].exception()
            if error is None:
                answers[i] = futures[i].result()
            elif isinstance(error, InputError):
                raise error
            elif isinstance(error, JudgeError) and failure is None:
                failure = error
            elif not isinstance(error, (JudgeError, _Stopped)):
                raise error
        return answers, failure

    def _complete(self, payload: dict[str, Any], key: str, stop: threading.Event) -> Completion:
        """One request on its query's first server that is up; on failure the next one, and the
        servers marked down last of all."""
        if stop.is_set():
            raise _Stopped
        route = self.route(key)
        failures: list[str] = []
        for endpoint in [e for e in route if e.is_up()] + [e for e in route if not e.is_up()]:
            try:
                with endpoint.slots:
                    answer = endpoint.post(self.model, payload)
            except TransientError as error:
                failures.append(str(error))
                self._failed(endpoint, error)
                continue
            except InputError:
                stop.set()
                raise
            self._answered(endpoint, failover=endpoint is not route[0])
            return answer
        stop.set()
        if len(failures) == 1:
            raise JudgeError(failures[0])
        raise JudgeError(f"all {len(failures)} openai servers failed: {'; '.join(failures)}")

    def _failed(self, endpoint: Endpoint, error: TransientError) -> None:
        """A server that failed after its retries is down for `recheck` seconds; an unreadable
        answer only sends this request to the next server."""
        if not error.down:
            if len(self.endpoints) > 1:
                log.warning("%s; sending the request to the next server", error)
            return
        with self._lock:
            was_up = endpoint.is_up()
            endpoint.down_until = time.monotonic() + self.policy.recheck
        if was_up and len(self.endpoints) > 1:
            log.warning(
                "%s; marked down, its requests go to the other servers; trying it again in %g s",
                error,
                self.policy.recheck,
            )

    def _answered(self, endpoint: Endpoint, failover: bool) -> None:
        with self._lock:
            self.requests[endpoint.url] += 1
            self.failovers += failover
            came_back = endpoint.down_until > 0.0
            endpoint.down_until = 0.0
        if came_back:
            log.warning("openai server %s answers again", endpoint.url)

    def _retried(self, endpoint: Endpoint, retry: Retry, what: str, wait: float) -> None:
        with self._lock:
            self.retries += 1
        left = retry.total if isinstance(retry.total, int) else 0
        log.info(
            "openai server %s: %s; retrying in %.1f s (%d more retries at most)",
            endpoint.url,
            what,
            wait,
            left,
        )
