"""What "the database is unavailable" means, as exceptions: one definition for the API, the
Idempotency-Key middleware, the projection workers and the group commit."""

from __future__ import annotations

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg_pool import PoolTimeout

# psycopg's own errors (raised outside the library's recorders: views, keys, idempotency), the
# pool giving up waiting for a connection, and the library's wrappers of psycopg's errors.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OperationalError, InterfaceError,
)


def database_unavailable(error: BaseException) -> bool:
    """True for a lost connection or an unavailable server (worth waiting for).

    Not for a program limit (SQLSTATE class 54, e.g. an index row too large): psycopg calls it
    an OperationalError too, but waiting never mends it; it belongs to the event or request.
    """
    if not isinstance(error, DATABASE_UNAVAILABLE):
        return False
    cause = error if isinstance(error, psycopg.Error) else error.__cause__
    return not str(getattr(cause, "sqlstate", None) or "").startswith("54")
