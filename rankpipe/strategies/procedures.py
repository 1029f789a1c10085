"""Running independent parts of a strategy side by side, and completing a selection.

A procedure is a generator that yields the pairs it needs next and, once resumed, reads their
answers from a shared `Preferences`. `in_parallel` runs several procedures in lockstep: each step
asks everything they need as one round (pairs already known cost nothing), so independent merges,
sift-downs or partitions share rounds."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

from rankpipe.strategies.base import Comparison
from rankpipe.strategies.preferences import Preferences

T = TypeVar("T")
Procedure = Generator[list[tuple[int, int]], None, T]
"""Yields the pairs it needs; when resumed, their answers are in the shared Preferences."""


def in_parallel(
    known: Preferences, procedures: Sequence[Procedure[T]]
) -> Generator[list[Comparison], list[float], list[T]]:
    """Run procedures in lockstep, one round per step; returns their results in order."""
    return (yield from lockstep(known.ask, procedures))


def lockstep(
    ask: Callable[[list[Any]], Generator[Any, Any, None]],
    procedures: Sequence[Generator[Any, None, T]],
) -> Generator[Any, Any, list[T]]:
    """Run procedures in lockstep: each step, everything they need goes to `ask` (a generator that
    yields one round and stores its answers where the procedures read them)."""
    results: list[Any] = [None] * len(procedures)
    waiting: dict[int, list[Any]] = {}
    running = list(range(len(procedures)))
    while running:
        for index in running:
            try:
                waiting[index] = procedures[index].send(None)
            except StopIteration as done:
                results[index] = done.value
                waiting.pop(index, None)
        running = list(waiting)
        if running:
            yield from ask([need for needs in waiting.values() for need in needs])
    return results


def first_stage_below(decided: Sequence[int], n: int) -> list[int]:
    """A selection's final order: the decided positions, then the rest in first-stage order."""
    chosen = set(decided)
    return [*decided, *(i for i in range(n) if i not in chosen)]
