"""The cyclic garbage collector's settings, changed while some work needs it and restored after.

Work that makes hundreds of thousands of short-lived container objects sets off the collector
over and over, and its older generations walk the whole heap each time to free nothing (none of
those objects is in a cycle): a third of a batch's Python time, a fifth of a rebuild's
(docs/performance.md). Such work holds a ``Policy`` while it runs. The collector is one per
process and the work runs in threads, so each policy is counted: the first holder applies it,
the last one to leave restores what was there before, however it leaves.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Policy:
    """What to change in the collector (``apply``, returning what ``restore`` needs to undo it)."""

    def apply(self) -> Any:
        raise NotImplementedError

    def restore(self, saved: Any) -> None:
        raise NotImplementedError


class Paused(Policy):
    """No cyclic collection at all (a batch: everything it makes lives until it is saved)."""

    def apply(self) -> bool:
        was_enabled = gc.isenabled()
        gc.disable()
        return was_enabled

    def restore(self, saved: bool) -> None:
        if saved:  # left off when it was off before
            gc.enable()


class Fewer(Policy):
    """Objects alive before are frozen out of sight; the young generation collected far less often.

    (A rebuild: it runs for minutes, so some collection stays, but rarely, and never over what the
    process held before.)
    """

    def __init__(self, threshold: tuple[int, int, int] = (100_000, 50, 100)) -> None:
        self.threshold = threshold

    def apply(self) -> tuple[int, int, int]:
        saved = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(*self.threshold)
        return saved

    def restore(self, saved: tuple[int, int, int]) -> None:
        gc.set_threshold(*saved)
        gc.unfreeze()


PAUSED = Paused()  # batches (api/routers/claims.py)
FEWER = Fewer()  # rebuilds (projections/runner.py)

_lock = threading.Lock()
_holders: dict[Policy, int] = {}
_saved: dict[Policy, Any] = {}


@contextmanager
def holding(policy: Policy) -> Iterator[None]:
    """``policy`` in force in this process while inside (any thread); nested and concurrent holders count."""
    with _lock:
        if not _holders.get(policy):
            _saved[policy] = policy.apply()
        _holders[policy] = _holders.get(policy, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _holders[policy] -= 1
            if not _holders[policy]:
                policy.restore(_saved.pop(policy))
