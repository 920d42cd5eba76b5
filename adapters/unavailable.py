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
