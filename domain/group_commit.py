"""Group commit: what concurrent requests write, coalesced into one transaction."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_STOP = object()


class GroupCommitter(Generic[T, R]):
    """One writer thread commits the items requests hand it, many per transaction.

    ``submit`` queues an item and returns a Future. The writer takes everything queued (up to
    ``max_items``) and passes it to ``commit`` in one call, which answers, per item and in order,
    its result or the exception that item alone failed with; an exception ``commit`` raises
    fails the whole group. Batching is natural: while one group commits the next queues up, so
    a lone item is committed at once and a busy writer commits large groups. An item whose
    Future was cancelled before its group started is left out (never written).

    The writer starts with the first item and ends after ``idle_seconds`` without one (the next
    item starts it again). ``close`` lets it commit what was queued before, then stops it. It is
    a daemon thread: a process that exits without closing the application does not hang on it.
    """

    def __init__(
        self,
        commit: Callable[[list[T]], Sequence[R | BaseException]],
        *,
        max_items: int = 500,
        on_group: Callable[[int], None] | None = None,
        idle_seconds: float = 5.0,
        name: str = "group-commit",
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.commit = commit
        self.max_items = max_items
        self.on_group = on_group  # told each group's size, e.g. by a metric
        self.idle_seconds = idle_seconds
        self.name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _writer and _closed against the writer's idle exit
        self._writer: threading.Thread | None = None
        self._closed = False

    def submit(self, item: T) -> Future[R]:
        """Queue ``item`` for the next group; the Future resolves once that group committed (or failed)."""
        future: Future[R] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._queue.put((item, future))
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._writer.start()
        return future

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit what was submitted so far, then stop the writer; later submits raise. Idempotent."""
        with self._lock:
            self._closed = True
            writer = self._writer
            if writer is not None:
                self._queue.put(_STOP)
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                group = [self._queue.get(timeout=self.idle_seconds)]
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():  # else an item came just now: go on
                        self._writer = None
                        return
                continue
            while len(group) < self.max_items and group[-1] is not _STOP:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = group[-1] is _STOP  # close() puts it last: nothing can follow
            if stopping:
                group.pop()
            self._commit([(item, future) for item, future in group if future.set_running_or_notify_cancel()])
            if stopping:
                return

    def _commit(self, group: list[tuple[T, Future[R]]]) -> None:
        if not group:
            return
        try:
            if self.on_group is not None:
                self.on_group(len(group))
            results = list(self.commit([item for item, _ in group]))
            if len(results) != len(group):
                raise RuntimeError(f"commit answered {len(results)} results for {len(group)} items")
        except BaseException as e:  # noqa: BLE001  (every request of the group is told; the writer goes on)
            for _, future in group:
                future.set_exception(e)
            return
        for (_, future), result in zip(group, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
