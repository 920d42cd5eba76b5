"""A real `claims serve` process on the embedded PostgreSQL, driven over HTTP, restarted, and loaded into."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).parents[2] / "examples" / "miami-talks.ndjson"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"CLAIMS_HOME": str(home)}
        self.process: subprocess.Popen[bytes] | None = None

    def claims(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *args], env=self.env, capture_output=True, text=True, timeout=120,
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError("claims serve did not become ready in 60 s")

    def stop(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        self.process = None
        return out.decode(errors="replace")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "home")
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.stop()


def test_serve_records_survives_restart_and_shares_its_database_with_load(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        party = http.post("/v1/parties", json={"id": "sergey-lavrov", "name": "Sergey Lavrov", "kind": "person",
                                                "aliases": ["Lawrow"]})
        assert party.status_code == 201
        claim = http.post("/v1/claims", json={
            "speaker": "Lawrow", "topic": "miami-talks", "text": "Nur Informationen", "language": "de",
            "stance": "negative", "stated_at": "2025-12-21",
            "source": {"url": "https://example.org/seeds/2025-12-21-miami-talks-productive", "outlet": "ORF"},
        })
        assert claim.status_code == 201, claim.text
        claim_id = claim.json()["id"]

    # `claims load` while the server runs: both use the one embedded server of this home.
    loaded = server.claims("load", str(EXAMPLE))
    assert loaded.returncode == 0, loaded.stderr
    assert "0 failed" in loaded.stdout

    output = server.stop()
    assert "Traceback" not in output
    server.start()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get(f"/v1/claims/{claim_id}").json()["speaker"] == "sergey-lavrov"
        joint = http.get("/v1/claims/32557f03-626c-4d38-bc33-cf02adef0f89").json()
        assert joint["co_speakers"] == ["steve-witkoff"]

    history = server.claims("history", claim_id, "--format", "json")
    assert history.returncode == 0, history.stderr
    assert '"type": "ClaimAsserted"' in history.stdout


def test_stopping_serve_stops_the_embedded_server(server: Server) -> None:
    pid_file = server.home / "pgdata" / "postmaster.pid"
    assert pid_file.exists()
    server.stop()
    deadline = time.monotonic() + 20
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_file.exists(), "the embedded PostgreSQL outlived the last process using it"
