"""Read-your-writes: a read sent with X-Min-Position waits until its projections have caught up.

The wait holds no thread and no connection: it awaits a condition on the event loop that the
projection workers of this process feed (``Runner.listeners``) as they move on. When the
workers run elsewhere (``claims project``), one task per process reads the positions while
anyone waits, for all of them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from api.errors import ProblemException

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05  # how often the positions are read while someone waits and no worker here says
POLL_SECONDS_FED = 1.0  # the same, when this process's workers say (a safety net: a rebuild's swap, say)


class PositionWatch:
    """The projections' positions as last heard, and the reads waiting for them."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.loop = asyncio.get_running_loop()
        self.positions: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._waiting = 0
        self._waited: Counter[str] = Counter()  # the projections waited for, and by how many
        self._poller: asyncio.Task[None] | None = None
        self._failure: Exception | None = None  # why the last read of the positions failed, if it did

    def advanced(self, name: str, position: int) -> None:
        """A projection reached ``position`` (called from any thread)."""
        self.loop.call_soon_threadsafe(self._set, {name: position})

    def _set(self, positions: dict[str, int]) -> None:
        moved = False
        for name, position in positions.items():
            if position > self.positions.get(name, -1):
                self.positions[name] = position
                moved = True
        if moved:
            asyncio.ensure_future(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def pending(self, names: tuple[str, ...], min_position: int) -> list[str]:
        return [n for n in names if self.positions.get(n, -1) < min_position]

    async def wait(self, names: tuple[str, ...], min_position: int, timeout: float) -> list[str]:
        """Wait until every projection named has reached ``min_position``; answer those that have not in time."""
        if not self.pending(names, min_position):
            return []
        self._waiting += 1
        self._waited.update(names)
        self._start_polling()
        try:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: not self.pending(names, min_position)), timeout
                    )
        finally:
            self._waiting -= 1
            self._waited.subtract(names)
            self._waited += Counter()  # drop the names nobody waits for any more
        pending = self.pending(names, min_position)
        if pending and self._failure is not None:
            raise self._failure  # the database, not the projections: a 503 (api/errors.py), not a 504
        return pending

    def _start_polling(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        """While anyone waits: read every projection's position (one short read for all the waiters)."""
        while self._waiting:
            try:
                positions = await run_in_threadpool(self._read)
            except Exception as e:  # noqa: BLE001  (the database away, say: told to the waiters that run out)
                log.warning("could not read the projections' positions: %s: %s", type(e).__name__, e)
                self._failure = e
            else:
                self._failure = None
                self._set(positions)
            await asyncio.sleep(POLL_SECONDS_FED if self._fed() else POLL_SECONDS)

    def _fed(self) -> bool:
        """Whether a live worker of this process says how each projection waited for moves on."""
        runner = getattr(self.services, "runner", None)
        if runner is None or getattr(self.services, "read_datastore", None) is not None:
            return False  # no workers here, or reads from a standby (the workers tell the primary's positions)
        workers = runner.workers
        return all(name in workers and workers[name].state == "live" for name in self._waited)

    def _read(self) -> dict[str, int]:
        return {name: view.position() for name, view in self.services.views.items()}


def caught_up(*names: str):  # noqa: ANN201  (a FastAPI dependency)
    """A dependency: wait (bounded, holding no thread) until the named projections have processed X-Min-Position."""

    async def dependency(
        request: Request,
        min_position: Annotated[int | None, Header(alias="X-Min-Position", ge=0)] = None,
    ) -> None:
        if min_position is None:
            return
        pending = await request.app.state.positions.wait(names, min_position, MAX_WAIT_SECONDS)
        if pending:
            raise ProblemException(
                504,
                f"projection(s) {', '.join(pending)} have not reached position {min_position} "
                f"within {MAX_WAIT_SECONDS:g} s; retry later",
                kind="not-caught-up",
                pending=pending,
            )

    return Depends(dependency)
