"""Continuous batching: queries submitted at any time, from any thread, share the executor's waves.

A `Scheduler` owns one background thread and one executor `Session`. `submit` returns a
`concurrent.futures.Future` at once; between two waves the thread admits every query submitted
meanwhile, so each judge call holds prompts of every query in flight (up to the batch size), and a
query's future resolves as soon as its strategy finishes, without waiting for the others. A judge
error fails only the queries whose prompts were in the failed batch; `cancel` drops a query before
its next wave (its client left), so it stops costing judgments. `close` drains what is in flight.

This is the executor's admission of queries at any time; the HTTP service (`rankpipe.serve`) and
`Reranker.submit` use it, and nothing else schedules judge calls."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass

from rankpipe.data.types import QueryCandidates
from rankpipe.executor import Done, Executor, Outcome, Session
from rankpipe.strategies.base import Strategy


@dataclass(frozen=True)
class _Submitted:
    key: int
    item: QueryCandidates
    strategy: Strategy
    top_k: int


class Scheduler:
    """Admits queries into one executor session from a background thread (see the module)."""

    def __init__(self, executor: Executor, *, on_wave: Callable[[int, int], None] | None = None):
        self.executor = executor
        self.on_wave = on_wave
        """Called after each wave with (queries in the wave, queries finished)."""
        self._cond = threading.Condition()
        self._pending: list[_Submitted] = []
        self._cancelled: set[int] = set()
        self._futures: dict[Hashable, Future[Outcome]] = {}
        self._next = 0
        self._closing = False
        self._session: Session = executor.session("serve", isolate_failures=True)
        self._thread = threading.Thread(target=self._loop, name="rankpipe-scheduler", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Queries submitted and not yet finished (waiting or in flight)."""
        with self._cond:
            return len(self._futures)

    def submit(self, item: QueryCandidates, strategy: Strategy, top_k: int) -> Future[Outcome]:
        """Queue a query; its future resolves to its Outcome (or the judge error that stopped
        it)."""
        future: Future[Outcome] = Future()
        with self._cond:
            if self._closing:
                raise RuntimeError("the scheduler is closed")
            key, self._next = self._next, self._next + 1
            self._futures[key] = future
            self._pending.append(_Submitted(key, item, strategy, top_k))
            self._cond.notify()
        return future

    def cancel(self, future: Future[Outcome]) -> bool:
        """Drop a submitted query (its client left) before its next wave; True if it was still
        waiting or in flight. Its future then raises CancelledError."""
        with self._cond:
            key = next((k for k, f in self._futures.items() if f is future), None)
            if key is None:
                return False
            self._cancelled.add(key)
            self._cond.notify()
        if not future.cancel():
            future.set_exception(CancelledError())
        return True

    def close(self, timeout: float | None = None) -> None:
        """Finish what is in flight, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        self._session.close()

    def _loop(self) -> None:
        while self._admit():
            try:
                finished = self._session.step()
            except BaseException as error:  # a strategy or cache failure: fail what is in flight
                self._fail_all(error)
                continue
            for done in finished:
                self._resolve(done)
            if self.on_wave is not None:
                self.on_wave(self._session.active + len(finished), len(finished))

    def _admit(self) -> bool:
        """Wait for work; admit what was submitted and drop what was cancelled. False: stop."""
        with self._cond:
            while not (self._pending or self._cancelled or self._session.active or self._closing):
                self._cond.wait()
            for key in self._cancelled:
                self._session.cancel(key)
                self._futures.pop(key, None)
            self._cancelled.clear()
            pending, self._pending = self._pending, []
        for submitted in pending:
            future = self._futures.get(submitted.key)
            if future is None or not future.set_running_or_notify_cancel():
                continue
            try:
                self._session.admit(
                    submitted.item, submitted.strategy, submitted.top_k, key=submitted.key
                )
            except BaseException as error:
                self._resolve(Done(submitted.key, None, error))
        with self._cond:
            return bool(self._session.active or self._pending or not self._closing)

    def _resolve(self, done: Done) -> None:
        with self._cond:
            future = self._futures.pop(done.key, None)
        if future is None or future.done():
            return
        if done.error is not None:
            future.set_exception(done.error)
        else:
            future.set_result(done.outcome)  # type: ignore[arg-type]

    def _fail_all(self, error: BaseException) -> None:
        with self._cond:
            futures = list(self._futures.items())
        for key, future in futures:
            if future.running():  # admitted (those still waiting are admitted next)
                self._session.cancel(key)
                self._resolve(Done(key, None, error))
