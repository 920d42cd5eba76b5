"""Random ids (version 4 UUIDs) without a system call each.

Each ``uuid4()`` reads the system's randomness through a getrandom call, which releases the
GIL: on the API's event loop, with the group commit's writer and the thread pool running, each
call then waited ~0.2 ms to get the GIL back (cProfile of the ingest load, 4,100 requests:
0.9 s in ``posix.urandom``). The ids here are the same kind (16 random bytes from the same
source, the version and variant bits set), read 256 at a time.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from uuid import UUID

_AT_ONCE = 256
_ready: deque[UUID] = deque()


def fresh_ids(n: int) -> Iterator[UUID]:
    """``n`` random ids as ``uuid4()`` makes them, from one read of the system's randomness, not ``n``."""
    randomness = os.urandom(16 * n)
    return (UUID(bytes=randomness[i:i + 16], version=4) for i in range(0, 16 * n, 16))


def new_id() -> UUID:
    """One random id, as ``uuid4()`` makes it; any thread may call it.

    ``deque.popleft`` and ``extend`` are atomic: two threads that find it empty both refill it,
    and no id is handed out twice.
    """
    while True:
        try:
            return _ready.popleft()
        except IndexError:
            _ready.extend(fresh_ids(_AT_ONCE))


def _forget() -> None:
    _ready.clear()  # a forked child (``--workers N``) must not hand out its parent's ids


os.register_at_fork(after_in_child=_forget)
