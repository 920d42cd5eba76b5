"""Scale-out, proven with real processes on one PostgreSQL: `claims serve --workers 2` and two
`claims project` workers under a steady write load.

1. Failover: the worker holding the positions projection is killed (SIGKILL) mid-run; the other
   takes it over within 2 s; then one API process is killed; a client retrying with its
   Idempotency-Key gets every claim recorded, each exactly once; the views equal a clean rebuild.
   The projection lag (acknowledged write → applied by positions) is measured and printed.
2. Rolling restart: a new `claims serve` beside the old, the old stopped with SIGTERM: no request
   of a client that retries idempotently fails.

Every address is 127.0.0.1; every loop is bounded in time.
"""

from __future__ import annotations

import bisect
import itertools
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from adapters.settings import Settings
from api.bootstrap import Services, bootstrap
from bench.server import free_port
from projections.runner import lock_key
from tests.e2e import homes
from tests.e2e.test_faults import claim, register_parties
from tests.integration.conftest import view_rows

pytestmark = pytest.mark.e2e

LOAD_SECONDS = float(os.environ.get("CLAIMS_SCALE_OUT_LOAD_SECONDS", "30"))
WRITERS = 4
PAUSE = 0.03  # between a writer's requests: a steady load, not a saturating one
RETRY_SECONDS = 30.0  # a logical request gives up after this long (then the test fails)
TAKEOVER_LIMIT = 2.0


class Cluster(homes.Home):
    """One embedded PostgreSQL; `claims serve --workers 2` and two `claims project` on it."""

    def __init__(self, path: Path, logs: Path) -> None:
        super().__init__(path, logs)
        self.env["CLAIMS_RUN_PROJECTIONS"] = "false"  # the projections run in the `claims project` workers
        self.settings = Settings(home=path, database_url=None, db_schema="public", run_projections=False,
                                 pool_size=2, pool_max_overflow=4)
        self.services: Services | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def serve(self, *args: str) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        process, log = self.start("serve", "--port", str(port), *args)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"claims serve exited:\n{log.read_text(errors='replace')}"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return process, url
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)

    def holder(self, name: str) -> int | None:
        """The pid of the `claims project` process holding ``name``'s advisory lock, if one does."""
        assert self.services is not None
        with self.services.datastore.transaction(commit=False) as curs:
            row = curs.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
                (lock_key("public", name),),
            ).fetchone()
        return int(row["application_name"].rsplit(" ", 1)[1]) if row else None

    def sessions(self) -> set[int]:
        """The pids of the processes with projection sessions (holding a lock or standing by)."""
        assert self.services is not None
        with self.services.datastore.transaction(commit=False) as curs:
            rows = curs.execute("SELECT application_name FROM pg_stat_activity"
                                " WHERE application_name LIKE 'claims-projection %%'").fetchall()
        return {int(r["application_name"].rsplit(" ", 1)[1]) for r in rows}

    def tidy(self) -> None:
        if self.services is not None:
            self.services.close()
        super().tidy()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, subprocess.Popen[bytes], str]]:
    tmp = tmp_path_factory.mktemp("scale-out")
    (tmp / "logs").mkdir()
    home = Cluster(tmp / "home", tmp / "logs")
    try:
        home.services = bootstrap(home.settings)  # the test's own handle: it watches locks and views
        api, url = home.serve("--workers", "2")
        for _ in range(2):
            home.workers.append(home.start("project")[0])
        with httpx.Client(base_url=url, timeout=10) as http:
            register_parties(http)
        deadline = time.monotonic() + 60
        # Both workers up (each has projection sessions: holding, or standing by), one holding each projection.
        while any(home.holder(name) is None for name in home.services.views) or home.sessions() != {
                w.pid for w in home.workers}:
            assert all(w.poll() is None for w in home.workers), "a `claims project` worker exited"
            assert time.monotonic() < deadline, "the projections found no worker"
            time.sleep(0.1)
        yield home, api, url
    finally:
        home.tidy()


# -- a client that retries idempotently -----------------------------------------------------------------


@dataclass
class Load:
    """Writers recording claims, each request retried with its Idempotency-Key until it is answered 201."""

    urls: list[str]
    tag: str
    acks: list[tuple[int, str, int | None, float]] = field(default_factory=list)  # n, id, position, when
    retries: int = 0
    failed: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._write, args=(i,), daemon=True) for i in range(WRITERS)]
        for t in threads:
            t.start()
        return threads

    def _write(self, writer: int) -> None:
        rng = random.Random(writer)
        with httpx.Client(timeout=10) as http:
            while not self.stopping.is_set():
                with self._lock:
                    n = next(self._numbers)
                body = claim(n) | {"text": f"{self.tag} {n}"}
                self._record(http, rng, n, body)
                time.sleep(PAUSE)

    def _record(self, http: httpx.Client, rng: random.Random, n: int, body: dict[str, Any]) -> None:
        headers = {"Idempotency-Key": f"{self.tag}-{n}"}
        deadline = time.monotonic() + RETRY_SECONDS
        url = rng.choice(self.urls)
        while time.monotonic() < deadline:
            try:
                answer = http.post(f"{url}/v1/claims", json=body, headers=headers)
                if answer.status_code == 201:
                    position = answer.headers.get("X-Event-Position")
                    with self._lock:
                        self.acks.append((n, answer.json()["id"], int(position) if position else None,
                                          time.monotonic()))
                    return
                assert answer.status_code in (409, 503), answer.text  # in progress elsewhere, or unavailable
            except httpx.TransportError:
                pass  # the process died or is stopping: another (or its replacement) answers the retry
            with self._lock:
                self.retries += 1
            url = rng.choice([u for u in self.urls if u != url] or self.urls)
            time.sleep(0.05)
        self.failed.append(f"{self.tag}-{n}")


def claims_by_text(services: Services, tag: str) -> dict[str, list[str]]:
    """The claims view's claims whose text starts with ``tag``: text → ids."""
    out: dict[str, list[str]] = {}
    with services.datastore.transaction(commit=False) as curs:
        rows = curs.execute(services.views["claims"].q("SELECT id, doc->>'text' AS text FROM {claim}"
                                                       " WHERE doc->>'text' LIKE %s"), (f"{tag} %",)).fetchall()
    for row in rows:
        out.setdefault(row["text"], []).append(str(row["id"]))
    return out


def wait_caught_up(services: Services, timeout: float = 60) -> int:
    head = services.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while any(view.position() < head for view in services.views.values()):
        assert time.monotonic() < deadline, {n: v.position() for n, v in services.views.items()}
        time.sleep(0.1)
    return head


def check_each_claim_recorded_once(services: Services, load: Load) -> None:
    assert not load.failed, f"requests never answered 201: {load.failed[:10]}"
    wait_caught_up(services)
    seen = claims_by_text(services, load.tag)
    acked = {f"{load.tag} {n}": claim_id for n, claim_id, _, _ in load.acks}
    assert len(acked) == len(load.acks)  # each logical request acknowledged once
    assert {text: [claim_id] for text, claim_id in acked.items()} == seen  # each recorded once, as acknowledged


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


# -- the tests -----------------------------------------------------------------------------------------------


def test_killed_workers_and_api_processes_lose_skip_and_repeat_nothing(
    cluster: tuple[Cluster, subprocess.Popen[bytes], str],
) -> None:
    home, api, url = cluster
    services = home.services
    assert services is not None
    load = Load([url], "failover")
    samples: list[tuple[float, int]] = []  # (when, the positions view's position)
    sampling = threading.Event()

    def sample() -> None:
        view = services.views["positions"]
        while not sampling.is_set():
            samples.append((time.monotonic(), view.position()))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    writers = load.start()
    try:
        # 1. SIGKILL the worker holding the positions projection; the other takes it over.
        time.sleep(LOAD_SECONDS * 0.3)
        victim = home.holder("positions")
        assert victim in {w.pid for w in home.workers}, victim
        survivor = next(w.pid for w in home.workers if w.pid != victim)
        applied_before = services.views["positions"].position()
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        while home.holder("positions") != survivor:
            assert time.monotonic() - killed_at < 10, "no worker took the positions projection over"
            time.sleep(0.01)
        takeover = time.monotonic() - killed_at
        while services.views["positions"].position() <= applied_before:  # and applies again
            assert time.monotonic() - killed_at < 10
            time.sleep(0.01)
        resumed = time.monotonic() - killed_at

        # 2. SIGKILL one of the two API processes; the other (and uvicorn's replacement) answers.
        time.sleep(LOAD_SECONDS * 0.3)
        children = [c for c in psutil.Process(api.pid).children() if "spawn_main" in " ".join(c.cmdline())]
        assert len(children) == 2, children
        acks_before = len(load.acks)
        children[0].kill()
        time.sleep(1.0)
        assert len(load.acks) > acks_before, "no write answered right after an API process was killed"

        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))
    finally:
        load.stopping.set()
        for t in writers:
            t.join(RETRY_SECONDS + 15)
    head = wait_caught_up(services)
    sampling.set()
    sampler.join(5)

    check_each_claim_recorded_once(services, load)
    assert takeover < TAKEOVER_LIMIT, f"the standby took over after {takeover:.2f} s"

    # Lag: from a write's acknowledgement to the positions view having applied it.
    times, positions = [t for t, _ in samples], [p for _, p in samples]
    lags, steady = [], []  # steady: the writes acknowledged away from the failover (not in the 3 s after the kill)
    for _, _, position, acked_at in load.acks:
        if position is None:
            continue
        i = bisect.bisect_left(positions, position, lo=bisect.bisect_left(times, acked_at - 0.02))
        if i < len(positions):
            lags.append(max(times[i] - acked_at, 0.0))
            if not killed_at - 2.5 < acked_at < killed_at + 3:
                steady.append(lags[-1])
    assert len(lags) > 0.9 * len(load.acks)

    # /metrics, answered by one process, counts the answers of all (the killed one's included).
    counted = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("claims_http_requests_total{") and 'route="/v1/claims"' in line and 'status="201"' in line:
            counted += float(line.rsplit(" ", 1)[1])
    assert len(load.acks) <= counted <= len(load.acks) + load.retries, (counted, len(load.acks))

    # The views, resumed across the kill, equal a clean rebuild from the first event.
    resumed_views = {name: view_rows(services, name) for name in services.views}
    code, output = home.run("projections", "rebuild", "--all", timeout=180)
    assert code == 0, output
    assert all(view.position() >= head for view in services.views.values())
    for name in services.views:
        assert view_rows(services, name) == resumed_views[name], f"{name}: the resumed view differs from a rebuild"

    rate = len(load.acks) / LOAD_SECONDS
    print(f"\nfailover: {len(load.acks)} claims in {LOAD_SECONDS:g} s ({rate:.0f}/s), {load.retries} retries; "
          f"positions taken over {takeover:.2f} s after SIGKILL (applying again after {resumed:.2f} s); "
          f"lag ack→positions p50 {percentile(lags, 50) * 1000:.0f} ms, p99 {percentile(lags, 99) * 1000:.0f} ms, "
          f"max {max(lags) * 1000:.0f} ms (away from the failover: p99 {percentile(steady, 99) * 1000:.0f} ms)")


def test_a_rolling_restart_fails_no_request_of_a_client_that_retries(
    cluster: tuple[Cluster, subprocess.Popen[bytes], str],
) -> None:
    home, old, old_url = cluster
    assert home.services is not None
    new, new_url = home.serve()  # the new process, beside the old one
    load = Load([old_url, new_url], "rolling")
    writers = load.start()
    try:
        time.sleep(min(5.0, LOAD_SECONDS / 3))
        before = len(load.acks)
        old.send_signal(signal.SIGTERM)  # graceful: in-flight requests answered, committers drained
        assert old.wait(60) == 0
        time.sleep(min(5.0, LOAD_SECONDS / 3))
        assert len(load.acks) > before
    finally:
        load.stopping.set()
        for t in writers:
            t.join(RETRY_SECONDS + 15)
    check_each_claim_recorded_once(home.services, load)
    assert httpx.get(f"{new_url}/readyz", timeout=5).status_code == 200
    print(f"\nrolling restart: {len(load.acks)} claims, 0 failed, {load.retries} retried on the other process")
