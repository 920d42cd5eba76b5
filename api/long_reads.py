"""A lane of its own for reads that take seconds (re-hashing the log), apart from the short ones.

A long read runs on one of a few threads of its own, on a connection of its own (never one
of the pool's), so however many are asked at once, the pool and the request thread pool stay
free for the short reads and the projection workers. Concurrent asks for the same read share
one run: the sixteenth caller waits for the run already going instead of starting another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg

T = TypeVar("T")

LANE_THREADS = 2  # at most this many long reads run at once (a full and a resumed verification, say)


class LongReads:
    """The bounded lane, and the runs going on it (one per key)."""

    def __init__(self, pool: Any, threads: int = LANE_THREADS) -> None:
        self._conninfo = pool.conninfo
        self._kwargs = dict(pool.kwargs)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="long-read")
        self._runs: dict[Hashable, asyncio.Future[Any]] = {}

    def connect(self) -> psycopg.Connection[Any]:
        """A connection for one long read, outside the pool (closed by the caller)."""
        return psycopg.connect(self._conninfo, **self._kwargs)

    async def shared(self, key: Hashable, run: Callable[[], T]) -> T:
        """``run()`` on the lane, or the result of the run of ``key`` already going."""
        going = self._runs.get(key)
        if going is None:
            going = asyncio.get_running_loop().run_in_executor(self._executor, run)
            self._runs[key] = going
            going.add_done_callback(lambda done: self._runs.pop(key, None) if self._runs.get(key) is done else None)
        return await asyncio.shield(going)  # a caller going away does not cancel the others' run

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
