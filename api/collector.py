"""The cyclic garbage collector, paused while a batch is built.

A 10,000-claim batch makes some 400,000 container objects (requests, events, aggregates) that
all live until the batch is saved. Each allocation of 700 of them starts a collection, and the
oldest generation's collections walk the whole heap, this batch included, again and again, to
free nothing (none of them is in a cycle): a third of the batch's Python time (measured in
docs/performance.md). Reference counting frees them as before once the batch is done; the
collector runs again when the last batch in the process is.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection in this process while inside (any thread); nested and concurrent uses count."""
    global _holders, _was_enabled  # noqa: PLW0603  (the collector is one per process)
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
