"""A `claims serve` process to measure: started on a free port, ready when it answers, stopped after."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(settings: Any, **extra: str) -> dict[str, str]:
    """The environment that points `claims serve` at the database of ``settings``, plus ``extra``."""
    env = {"CLAIMS_HOME": str(settings.home), "CLAIMS_DB_SCHEMA": settings.db_schema}
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return env | extra


@contextlib.contextmanager
def served(env: dict[str, str], *, command: list[str] | None = None, timeout: float = 300) -> Iterator[str]:
    """Run ``command`` (default `claims serve`) on a free port with ``env``; yield its base URL.

    The process inherits no CLAIMS_* variable or DATABASE_URL of ours: only ``env`` configures it.
    Its output goes to a temporary file, shown if it dies before answering /healthz.
    """
    port = free_port()
    command = command or [sys.executable, "-m", "api.cli", "serve"]
    full = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("CLAIMS_")} | env
    with tempfile.NamedTemporaryFile("w+b", prefix="claims-serve-", suffix=".log") as log:
        process = subprocess.Popen([*command, "--port", str(port)], cwd=ROOT, env=full,
                                   stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{' '.join(command)} exited ({process.returncode}):\n"
                                       f"{log.read().decode(errors='replace')[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(command)} did not answer within {timeout:g} s")
                time.sleep(0.2)
            yield base_url
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful shutdown: the embedded server is left properly), SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
