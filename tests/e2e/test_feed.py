"""The change feed over real HTTP from a real `claims serve`: followed, bounded, ended by a restart, resumed."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.test_serve import EXAMPLE, Server

pytestmark = pytest.mark.e2e
FOLLOW = Path(__file__).parents[2] / "examples" / "follow.py"
SOURCE = {"url": "https://example.org/seeds/2025-12-23-miami-talks-continue", "outlet": "ORF"}


def claim(text: str) -> dict[str, Any]:
    return {"speaker": "Peskow", "topic": "miami-talks", "text": text, "language": "de", "stance": "negative",
            "stated_at": "2025-12-24", "source": SOURCE}


def claim_positions(url: str) -> list[int]:
    lines = httpx.get(f"{url}/v1/events", params={"stream": "claim"}, timeout=10).text.splitlines()
    return [int(orjson.loads(line)["id"]) for line in lines if line.strip()]


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


class Reader(threading.Thread):
    """A followed feed read in a thread: the lines (or SSE frames) it got, when, and how it ended."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, **params: Any) -> None:
        super().__init__(daemon=True)
        self.url, self.headers, self.params = url, headers or {}, {"follow": "true", **params}
        self.lines: list[tuple[float, str]] = []
        self.status: int | None = None
        self.ended: str | None = None
        self.opened = threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream("GET", f"{self.url}/v1/events", params=self.params, headers=self.headers,
                              timeout=httpx.Timeout(10, read=30)) as answer:
                self.status = answer.status_code
                self.opened.set()
                for line in answer.iter_lines():
                    self.lines.append((time.monotonic(), line))
            self.ended = "cleanly"
        except httpx.HTTPError as e:
            self.ended = repr(e)
        finally:
            self.opened.set()

    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(line.removeprefix("data: ")) for _, line in self.lines
                if line.startswith(("{", "data: "))]


@pytest.fixture
def server(tmp_path: Path) -> Any:
    server = Server(tmp_path / "home")
    server.env |= {"CLAIMS_FEED_STREAMS_PER_KEY": "3", "CLAIMS_FEED_HEARTBEAT_SECONDS": "0.5"}
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.stop()


def test_followed_feeds_deliver_within_a_second_end_on_restart_and_resume(server: Server, tmp_path: Path) -> None:
    loaded = server.claims("load", str(EXAMPLE))
    assert loaded.returncode == 0, loaded.stderr
    database = tmp_path / "positions.db"
    follower = subprocess.Popen([sys.executable, str(FOLLOW), server.url, str(database)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def seen() -> list[int]:
            if not database.exists():
                return []
            with sqlite3.connect(database) as db:
                return [row[0] for row in db.execute("SELECT position FROM seen ORDER BY position")]

        expected = claim_positions(server.url)
        wait_for(lambda: seen() == expected, 30, "the follower did not catch up with the seed's claims")

        # A new event reaches a followed feed within a second of its commit; SSE sends heartbeats meanwhile.
        head = httpx.get(f"{server.url}/v1/audit/checkpoint", timeout=10).json()["size"]
        ndjson = Reader(server.url, after=head)
        sse = Reader(server.url, {"Accept": "text/event-stream"}, after=head, type="ClaimAsserted")
        for reader in (ndjson, sse):
            reader.start()
            reader.opened.wait(10)
            assert reader.status == 200
        time.sleep(1.2)  # idle: heartbeats
        assert any(line == ": heartbeat" for _, line in sse.lines)
        # The key (none made: "local") may have 3 open: follow.py's and these two. The next is refused.
        refused = httpx.get(f"{server.url}/v1/events", params={"follow": "true"}, timeout=10)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        written = httpx.post(f"{server.url}/v1/claims", json=claim("Neu nach dem Treffen"), timeout=10)
        committed = time.monotonic()
        assert written.status_code == 201
        for reader in (ndjson, sse):
            wait_for(lambda r=reader: any(e.get("subject") == written.json()["id"] for e in r.events()), 5, "missed")
        arrived = next(t for t, line in ndjson.lines if written.json()["id"] in line)
        assert arrived - committed < 1.0, f"delivered {arrived - committed:.2f} s after the commit"
        assert [e["type"] for e in sse.events()] == ["ClaimAsserted"]
        assert all(line.startswith(("id: ", "data: ", ": ", "retry: ")) or not line for _, line in sse.lines)

        # A restart: shutdown ends the open feeds cleanly and does not wait on them.
        started = time.monotonic()
        output = server.stop()
        assert time.monotonic() - started < 15
        assert "Traceback" not in output
        for reader in (ndjson, sse):
            reader.join(10)
            assert reader.ended == "cleanly"
        server.start()
        more = httpx.post(f"{server.url}/v1/claims", json=claim("Nach dem Neustart"), timeout=10).json()
        httpx.post(f"{server.url}/v1/claims/{more['id']}/retraction", json={"reason": "zurückgezogen"}, timeout=10)
        expected = claim_positions(server.url)
        wait_for(lambda: seen() == expected, 30, f"the follower did not resume: {seen()[-5:]} vs {expected[-5:]}")
        with sqlite3.connect(database) as db:
            active = db.execute("SELECT active FROM claim WHERE id = ?", (more["id"],)).fetchone()
            assert active == (0,)
            assert db.execute("SELECT count(*) FROM position").fetchone()[0] > 0
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(10)
