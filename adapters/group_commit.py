"""Group commit: the claims concurrent requests write, coalesced into one transaction.

``GroupCommitter`` is the generic part (a queue and one writer thread); ``ClaimGroupCommit``
is the write pipeline of ``POST /v1/claims`` built on it, handed to the application by the
composition root (``api/bootstrap.py``) as its ``pipeline``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from uuid import UUID

from adapters.unavailable import DATABASE_UNAVAILABLE
from domain.application import PendingClaim, Saved

if TYPE_CHECKING:
    from domain.application import ClaimsApplication
    from domain.claim import Claim

log = logging.getLogger(__name__)

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


class ClaimGroupCommit:
    """The claims ``submit_claim`` hands over, saved many per transaction by one writer thread.

    A new topic several claims of a group name is defined once (the first claim's definition),
    and not at all if an earlier transaction defined it since they were checked. If the group's
    transaction fails for any reason but the database being unavailable (a conflict: a reused
    client-chosen id, another process wrote first; or one claim the store cannot encode), it is
    rolled back and each claim is saved on its own, as without group commit: only the culprit
    fails, with its own error, and its neighbours are committed. The database being unavailable
    is every claim's error (none was stored).
    """

    def __init__(self, app: ClaimsApplication, *, max_items: int = 500, idle_seconds: float = 5.0) -> None:
        self.app = app
        self._listener: Callable[[int], None] | None = None
        self.committer: GroupCommitter[PendingClaim, Saved[Claim]] = GroupCommitter(
            self._commit, max_items=max_items, on_group=self._tell, idle_seconds=idle_seconds,
            name=f"{app.name}-group-commit",
        )

    def report_to(self, listener: Callable[[int], None] | None) -> None:
        """Tell ``listener`` (a metric; it replaces the one before) how many claims each group saves."""
        self._listener = listener

    def submit(self, claim: PendingClaim) -> Future[Saved[Claim]]:
        return self.committer.submit(claim)

    def close(self) -> None:
        self.committer.close()

    def _tell(self, size: int) -> None:
        if self._listener is not None:
            self._listener(size)

    def _commit(self, group: list[PendingClaim]) -> list[Saved[Claim] | BaseException]:
        events: list[Any] = []
        defined: set[UUID] = set()  # topics in the store, or defined earlier in this group
        for item in group:
            events.extend(item.events)
            for event in item.topic_events:
                if event.originator_id not in defined and event.originator_id not in self.app.repository:
                    events.append(event)
                defined.add(event.originator_id)
        try:
            positions = self._store(events)
        except DATABASE_UNAVAILABLE:
            raise
        except Exception as e:  # noqa: BLE001  (one claim's fault, most likely: find it by saving each alone)
            if len(group) > 1:
                log.info("group commit of %d claims failed (%s: %s); saving each on its own",
                         len(group), type(e).__name__, e)
            return [self._alone(item) for item in group]
        return [Saved(item.claim, max(_positions(positions, item))) for item in group]

    def _store(self, events: list[Any]) -> dict[tuple[UUID, int], int]:
        """Store the group's events in one transaction; the position of each (by stream and version).

        On PostgreSQL in one round trip (``ClaimsRecorder.insert_at_once``: the writer thread waits
        for the GIL once a group, not six times); on another store through the library's ``save``.
        """
        insert_at_once = getattr(self.app.recorder, "insert_at_once", None)
        if insert_at_once is None:
            recordings = self.app.save(*events)
            return {(r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
                    for r in recordings}
        stored = [self.app.mapper.to_stored_event(event) for event in events]
        return {(event.originator_id, event.originator_version): position
                for event, position in zip(events, insert_at_once(stored), strict=True)}

    def _alone(self, item: PendingClaim) -> Saved[Claim] | BaseException:
        """One claim of a group that failed, saved on its own: its own error, if it has one."""
        try:
            return self.app.save_pending(item)
        except Exception as e:  # noqa: BLE001  (this claim's outcome, not its neighbours')
            return e


def _positions(positions: dict[tuple[UUID, int], int], item: PendingClaim) -> Iterator[int]:
    """The positions of a claim's events, and of its new topic's if this transaction defined it."""
    for event in item.events + item.topic_events:
        position = positions.get((event.originator_id, event.originator_version))
        if position is not None:
            yield position
