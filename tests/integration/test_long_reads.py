"""Long reads never starve short ones (issue 9, class 3), over real HTTP against a real server.

The verifications are made long the way a large log makes them long, but deterministically: a
session of the test holds a lock on the chain table, so every re-hash waits in the database
until the test lets go.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from psycopg import sql

from adapters.audit import CHAIN_TABLE, AuditLog
from api.app import create_app
from tests.integration.conftest import PARTIES, caught_up, claim_body


@pytest.fixture
def server(live: Any) -> Iterator[str]:
    """The API served by uvicorn in this process, on a free port, with its projections running."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(services=live), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    with httpx.Client(base_url=url) as http:
        for party in PARTIES:
            assert http.post("/v1/parties", json=party).status_code == 201
        for i in range(5):
            assert http.post("/v1/claims", json=claim_body(text=f"Aussage {i}")).status_code == 201
    caught_up(live)
    try:
        yield url
    finally:
        running.should_exit = True
        thread.join(timeout=10)


class ChainLock:
    """A session of its own holding ACCESS EXCLUSIVE on the chain table: every re-hash waits for it."""

    def __init__(self, services: Any) -> None:
        self.conn = psycopg.connect(services.database.url)
        self.conn.execute(sql.SQL("LOCK TABLE {}.{} IN ACCESS EXCLUSIVE MODE").format(
            sql.Identifier(services.settings.db_schema), sql.Identifier(CHAIN_TABLE)))

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def test_many_verifies_share_one_run_off_the_pool_while_short_reads_and_readyz_answer(
    server: str, live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[bool] = []
    real_verify = AuditLog.verify

    def counted(self: AuditLog, *args: Any, **kwargs: Any) -> Any:  # the real verification, counted
        runs.append(bool(kwargs.get("resume")))
        return real_verify(self, *args, **kwargs)

    monkeypatch.setattr(AuditLog, "verify", counted)
    pool_max = live.settings.pool_size + live.settings.pool_max_overflow
    lock = ChainLock(live)
    released = False
    try:
        with ThreadPoolExecutor(max_workers=pool_max + 8) as threads:
            verifies = [threads.submit(httpx.get, f"{server}/v1/audit/verify", timeout=60)
                        for _ in range(pool_max + 4)]  # more than the pool holds
            deadline = time.monotonic() + 10
            while not runs:  # the shared run has started and waits on the lock
                assert time.monotonic() < deadline, "no verification started"
                time.sleep(0.02)
            with httpx.Client(base_url=server, timeout=30) as http:
                short = [http.get(path) for _ in range(10)
                         for path in ("/v1/claims", "/v1/parties", "/v1/positions", "/v1/projections")]
                ready = http.get("/readyz")
                written = http.get("/v1/claims", params={"speaker": "Peskow"})
            assert [r.status_code for r in short] == [200] * len(short), [r.text for r in short if r.is_error]
            assert ready.status_code == 200 and ready.json()["pool"] == "ok"
            assert len(written.json()["items"]) == 5
            assert not any(v.done() for v in verifies), "the verifications were still held by the lock"
            lock.release()
            released = True
            answers = [v.result() for v in verifies]
    finally:
        if not released:
            lock.release()
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert {a.json()["head"] for a in answers} == {answers[0].json()["head"]}
    assert all(a.json()["ok"] and a.json()["events"] == answers[0].json()["events"] for a in answers)
    assert len(runs) == 1, f"{len(answers)} concurrent verifications made {len(runs)} runs, not one"


def test_verification_walks_the_whole_log_by_default_and_resumes_when_asked(server: str, live: Any) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        first = http.get("/v1/audit/verify").json()
        assert first["ok"] and first["checked_from"] == 0
        assert http.post("/v1/claims", json=claim_body(text="noch eine")).status_code == 201
        second = http.get("/v1/audit/verify", params={"resume": "true"}).json()
        assert second["ok"] and second["events"] == first["events"] + 1
        assert second["checked_from"] > 0, "the second walk resumed where the first ended"
        full = http.get("/v1/audit/verify").json()
        assert full == {**second, "checked_from": 0}, "without resume=true every event is re-hashed"


def test_a_deleted_event_before_the_verified_point_is_still_found(server: str, live: Any) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        assert http.get("/v1/audit/verify").json()["ok"]
        schema = live.settings.db_schema
        events = live.app.recorder.events_table_name
        with psycopg.connect(live.database.url, autocommit=True) as conn:  # a superuser, bypassing the triggers
            conn.execute("SET session_replication_role = replica")
            conn.execute(sql.SQL("DELETE FROM {}.{} WHERE notification_id = (SELECT min(notification_id) FROM {}.{})")
                         .format(sql.Identifier(schema), sql.Identifier(events),
                                 sql.Identifier(schema), sql.Identifier(events)))
        answer = http.get("/v1/audit/verify", params={"resume": "true"}).json()
    assert answer["ok"] is False
    assert "deleted" in answer["reason"]


def test_forty_far_ahead_waiters_do_not_block_a_plain_read(server: str, live: Any) -> None:
    far = str((live.app.recorder.max_notification_id() or 0) + 1_000_000)
    with ThreadPoolExecutor(max_workers=48) as threads:
        waiting = [threads.submit(httpx.get, f"{server}/v1/claims", headers={"X-Min-Position": far}, timeout=60)
                   for _ in range(40)]
        time.sleep(0.5)  # they are all waiting now
        with httpx.Client(base_url=server, timeout=30) as http:
            plain = [http.get("/v1/claims") for _ in range(5)] + [http.get("/v1/positions")]
            read_back = http.get("/v1/claims", headers={"X-Min-Position": "1"})
        assert [r.status_code for r in plain] == [200] * len(plain)
        assert read_back.status_code == 200, "a wait for a position already reached answers at once"
        assert not any(w.done() for w in waiting), "the plain reads were answered while the waiters still waited"
        answers = [w.result() for w in waiting]
    assert [a.status_code for a in answers] == [504] * 40
    assert all("claims" in a.json()["pending"] for a in answers)


def test_a_waiter_wakes_when_the_projection_reaches_its_position(server: str, live: Any) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        target = (live.app.recorder.max_notification_id() or 0) + 1
        with ThreadPoolExecutor(max_workers=1) as threads:
            waiter = threads.submit(http.get, "/v1/claims", params={"speaker": "Peskow"},
                                    headers={"X-Min-Position": str(target)})
            time.sleep(0.3)
            assert not waiter.done()
            written = http.post("/v1/claims", json=claim_body(text="später"))
            assert int(written.headers["X-Event-Position"]) >= target
            answer = waiter.result()
    assert answer.status_code == 200
    assert "später" in [c["text"] for c in answer.json()["items"]]


def test_readyz_says_busy_when_no_pooled_connection_is_free(live: Any) -> None:
    from fastapi.testclient import TestClient

    pool = live.app.recorder.datastore.pool
    with TestClient(create_app(services=live)) as http:
        ready = http.get("/readyz").json()
        assert ready == {"status": "ready", "database": "ok", "pool": "ok", "projections": ready["projections"]}
        assert set(ready["projections"]) == set(live.runner.workers)
        taken = [pool.getconn(timeout=5) for _ in range(live.settings.pool_size + live.settings.pool_max_overflow)]
        try:
            busy = http.get("/readyz")
        finally:
            for conn in taken:
                pool.putconn(conn)
        assert busy.status_code == 503 and busy.headers["Retry-After"]
        assert busy.json()["database"] == "ok" and busy.json()["pool"].startswith("busy")
        assert http.get("/readyz").status_code == 200


def test_projection_workers_keep_their_connections_when_the_request_pool_is_exhausted(
    live: Any, settings: Any
) -> None:
    from fastapi.testclient import TestClient

    from api.bootstrap import bootstrap

    pool = live.app.recorder.datastore.pool
    taken = [pool.getconn(timeout=5) for _ in range(live.settings.pool_size + live.settings.pool_max_overflow)]
    other = bootstrap(settings)  # a writer elsewhere (another process, say) on the same database
    try:
        with TestClient(create_app(services=other)) as writer:
            for party in PARTIES:
                assert writer.post("/v1/parties", json=party).status_code == 201
            written = writer.post("/v1/claims", json=claim_body())
            assert written.status_code == 201
        position = int(written.headers["X-Event-Position"])
        deadline = time.monotonic() + 15
        while any(v.position() < position for v in live.runner.views.values()):  # read on the workers' pool
            assert time.monotonic() < deadline, {n: v.position() for n, v in live.runner.views.items()}
            time.sleep(0.05)
        assert {w.state for w in live.runner.workers.values()} == {"live"}
    finally:
        other.close()
        for conn in taken:
            pool.putconn(conn)
