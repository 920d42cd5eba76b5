"""How fast does POST /v1/claims ingest over HTTP, and how far behind do the projections fall?

    python -m bench.ingest [--home DIR] [--clients 32,128] [--seconds 10] [--runs 1] [--json out.json]

1. Three servers, one after the other, each its own process on a fresh port, served by uvicorn
   as ``claims serve`` serves: the framework ceiling (bench/ceiling.py: the same endpoint shape,
   writing nothing), the naive path (``claims serve`` with CLAIMS_GROUP_COMMIT=false: one
   transaction per request) and the service as it runs (``claims serve``, group commit on,
   projections in-process). The two real ones each get a fresh schema of one PostgreSQL (the
   embedded server under ``--home``, or DATABASE_URL), with the parties and topics of
   bench/synth.py registered first; the schema is dropped afterwards.
2. Against each, for each number of clients: a load generator in its own process(es)
   (bench/loadgen.py, aiohttp) POSTs realistic claims (bench/synth.py) in a closed loop for
   ``--seconds`` after a warm-up; claims/s (201s only), latency p50/p99, errors by status, and the
   CPU of the server, of PostgreSQL and of the generator itself over the measured window.
3. The projection lag: against the service, a paced load of ``--lag-rate`` claims/s; for each
   201, the time from its answer until the claims projection has processed its X-Event-Position
   (its tracking position, polled every 20 ms in the database: an upper bound by about that much).
4. A table of each figure beside its reference and the issue's target; JSON (default
   bench/results/ingest-<clients>c-<seconds>s.json).

``measure()`` does all of it for an orchestrator and answers the figures. ``--profile`` records
each real server (its API process and projection worker) with py-spy during its first load
(bench/results/ingest-<server>-<clients>-<api|projections>.<svg|txt|json>).
"""

from __future__ import annotations

import argparse
import bisect
import math
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from adapters.database import Database
from adapters.settings import Settings
from api.bootstrap import bootstrap
from bench import loadgen
from bench.loadgen import Job
from bench.server import free_port, stop
from bench.rebuild import RESULTS, ROOT, git_state, machine, postmaster, server
from bench.synth import ClaimMaker, Generator, build_world

# The targets (2 cores, PostgreSQL on the same machine)
TARGET_RATE = 1_500  # claims/s with 32 clients
TARGET_VS_NAIVE = 3.0
TARGET_VS_CEILING = 0.5
TARGET_P99_MS = 100
TARGET_LAG_P99_S = 1.0
TARGET_CLIENTS = 32
SERVERS = ("ceiling", "naive", "service", "service2", "inprocess")
DESCRIBED = {
    "ceiling": "the framework ceiling (bench/ceiling.py, writes nothing)",
    "naive": "the naive path (as the service, but CLAIMS_GROUP_COMMIT=false: one transaction per request)",
    "service": "the service in one API process (claims serve with group commit; claims project beside it)",
    "service2": "the service as docker-compose runs it: two API processes (claims serve --workers 2), claims project",
    "inprocess": "the service in one process (claims serve with group commit and the projections in-process)",
}
console = Console(width=max(170, Console().width))


# -- the servers ---------------------------------------------------------------------------


class Server:
    """One server process on a free loopback port; its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path, *, worker: bool = False) -> None:
        self.name = name
        self.db_url = env.get("DATABASE_URL")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = logs / f"ingest-{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", *args, "--port", str(self.port)], cwd=ROOT,
                                            env=env, stdout=out, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.process.pid)
        self.worker: subprocess.Popen[bytes] | None = None  # `claims project`, when the projections run apart
        if worker:
            with (logs / f"ingest-{name}-worker.log").open("wb") as out:
                self.worker = subprocess.Popen([sys.executable, "-m", "api.cli", "project"], cwd=ROOT, env=env,
                                               stdout=out, stderr=subprocess.STDOUT)

    @property
    def processes(self) -> list[psutil.Process]:
        """The processes serving (their CPU is the server's)."""
        return self.api_processes + self.worker_processes

    @property
    def api_processes(self) -> list[psutil.Process]:
        """The API's process, and under --workers its worker processes."""
        return [self.ps, *self.ps.children(recursive=True)]

    @property
    def worker_processes(self) -> list[psutil.Process]:
        return [psutil.Process(self.worker.pid)] if self.worker is not None else []

    def wait_ready(self, path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as answer:  # noqa: S310 (loopback)
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as answer:  # noqa: S310 (loopback)
            return orjson.loads(answer.read())

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for process in (self.process, self.worker):
            if process is not None:
                stop(process)


def start_server(name: str, url: str, schema: str, home: Path, logs: Path) -> Server:
    """The ceiling, or ``claims serve`` on ``schema`` of the database at ``url``."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("CLAIMS_")}
    if name == "ceiling":
        srv = Server(name, ["bench.ceiling"], env, logs)
        srv.wait_ready("/healthz")
        return srv
    apart = name != "inprocess"  # the projections in a `claims project` process of their own
    env |= {"DATABASE_URL": url, "CLAIMS_DB_SCHEMA": schema, "CLAIMS_HOME": str(home),
            "CLAIMS_GROUP_COMMIT": "false" if name == "naive" else "true",
            "CLAIMS_RUN_PROJECTIONS": "false" if apart else "true"}
    # Experiments: BENCH_CLAIMS_X=v sets CLAIMS_X=v for the real servers (e.g. BENCH_CLAIMS_GROUP_COMMIT_MAX=100).
    env |= {k.removeprefix("BENCH_"): v for k, v in os.environ.items() if k.startswith("BENCH_CLAIMS_")}
    args = ["api.cli", "serve", *(["--workers", "2"] if name == "service2" else [])]
    srv = Server(name, args, env, logs, worker=apart)
    srv.wait_ready("/readyz")
    return srv


def prepare(url: str, schema: str, seed: int) -> dict[str, Any]:
    """A fresh schema with the parties and topics the claims name (bench/synth.py's world); the server's settings."""
    drop(url, schema)
    services = bootstrap(Settings(database_url=url, db_schema=schema, run_projections=False))
    try:
        Generator(services.app, 0, seed=seed)._setup()  # noqa: SLF001  (the world only, no claims)
        return server(services)
    finally:
        services.close()


def drop(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def make_bodies(count: int, seed: int) -> list[bytes]:
    """Realistic claim requests (bench/synth.py), naming the parties and topics ``prepare`` registers."""
    maker = ClaimMaker(random.Random(seed + 1), build_world(random.Random(seed)))
    now = datetime.now(UTC)
    return [orjson.dumps(maker.claim(now)) for _ in range(count)]


# -- one load ------------------------------------------------------------------------------


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def drive(srv: Server, bodies: list[bytes], *, clients: int, seconds: float, warmup: float, generators: int = 1,
          rate: float | None = None, watch: Callable[[], int] | None = None, pg: psutil.Process | None = None,
          profile: tuple[Path, str] | None = None) -> dict[str, Any]:
    """Run the load generator against ``srv`` (in ``generators`` processes) and measure the window.

    With ``watch`` (the claims projection's position), a thread polls it meanwhile and each 201's
    projection lag is measured.
    """
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    begin_at = ctx.Value("d", 0.0)
    jobs = []
    for g in range(generators):
        share = clients // generators + (g < clients % generators)
        jobs.append(Job(url=srv.url, bodies=bodies, clients=share, seconds=seconds, warmup=warmup,
                        rate=rate * share / clients if rate else None, positions=watch is not None,
                        first=g * len(bodies) // generators))
    procs = [ctx.Process(target=loadgen.run, args=(job, ready, go, begin_at, results), daemon=True) for job in jobs]
    watcher = Watcher(watch) if watch is not None else None
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    begin = time.monotonic() + 0.2
    begin_at.value = begin
    go.set()
    if watcher is not None:
        watcher.start()
    gens = [psutil.Process(p.pid) for p in procs]
    server_procs, api_procs, worker_procs = srv.processes, srv.api_processes, srv.worker_processes
    pg_procs = [pg, *pg.children(recursive=True)] if pg is not None else []
    time.sleep(max(0.0, begin + warmup - time.monotonic()))
    spies = spy_on(srv, profile, seconds) if profile is not None else {}
    wal_before = wal_lsn(srv.db_url)
    before = [cpu_seconds(server_procs), cpu_seconds(pg_procs), cpu_seconds(api_procs), cpu_seconds(worker_procs),
              *(cpu_seconds([g]) for g in gens)]
    time.sleep(max(0.0, begin + warmup + seconds - time.monotonic()))
    after = [cpu_seconds(server_procs), cpu_seconds(pg_procs), cpu_seconds(api_procs), cpu_seconds(worker_procs),
             *(cpu_seconds([g]) for g in gens)]
    wal_after = wal_lsn(srv.db_url)
    rss = {"api": [rss_mb(p) for p in api_procs], "projections": [rss_mb(p) for p in worker_procs],
           "postgres": round(sum(rss_mb(p) or 0 for p in pg_procs), 1) if pg_procs else None}
    behind = None
    if srv.name != "ceiling":
        items = srv.get("/v1/projections")["items"]
        behind = {i["name"]: i["lag"] for i in items}
    parts = [results.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
    for spy in spies.values():
        spy.wait(60)
    written = [w for part in parts for w in part["written"]]
    if watcher is not None:
        watcher.until(max((p for _, p in written), default=0))
    used = [round(100 * (a - b) / seconds) for a, b in zip(after, before, strict=True)]

    latencies = sorted(x for part in parts for x in part["latencies"])
    statuses: Counter[str] = Counter()
    for part in parts:
        statuses.update(part["statuses"])
    ok = statuses.get("201", 0)
    result: dict[str, Any] = {
        "clients": clients,
        "seconds": seconds,
        "generators": generators,
        "claims_per_second": round(ok / seconds),
        "requests": sum(statuses.values()),
        "statuses": dict(statuses),
        "errors": {k: v for k, v in statuses.items() if k != "201"},
        "latency_ms": {"p50": ms(quantile(latencies, 0.5)), "p90": ms(quantile(latencies, 0.9)),
                       "p99": ms(quantile(latencies, 0.99)), "max": ms(latencies[-1] if latencies else None)},
        "cpu_percent": {"server": used[0], "postgres": used[1] if pg_procs else None,
                        "api": used[2], "projections": used[3] if worker_procs else None,
                        "generator": sum(used[4:]), "generator_processes": used[4:]},
        # Per claim acknowledged in the window (CPU in ms; the projections' per event is about the same:
        # a claim here is one event, a new topic now and then another).
        "per_claim": per_claim(ok, [a - b for a, b in zip(after, before, strict=True)], wal_before, wal_after),
        "rss_mb": rss,
        "projection_lag_events_at_end": behind,
    }
    if rate:
        result["target_rate"] = rate
    if watcher is not None:
        result["lag"] = lag(written, watcher.polls)
    if spies:
        result["profile"] = {role: str(out.relative_to(ROOT)) for role, out in profiles(profile).items() if out.exists()}
    return result


# py-spy's output formats, by the name --profile takes
SPY_FORMATS = {"svg": ("flamegraph", "svg"), "txt": ("raw", "txt"), "json": ("speedscope", "json")}


def profiles(profile: tuple[Path, str] | None) -> dict[str, Path]:
    """Where the API's and the projection worker's profiles go, for ``(stem, --profile format)``."""
    if profile is None:
        return {}
    stem, fmt = profile
    return {role: stem.with_name(f"{stem.name}-{role}.{SPY_FORMATS[fmt][1]}") for role in ("api", "projections")}


def spy_on(srv: Server, profile: tuple[Path, str], seconds: float) -> dict[str, subprocess.Popen[bytes]]:
    """py-spy recording the API process and the projection worker (if any) for the measured window."""
    pids = {"api": srv.ps.pid, "projections": srv.worker.pid if srv.worker is not None else None}
    spies = {}
    for role, out in profiles(profile).items():
        if pids[role] is not None:
            spies[role] = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pids[role]),
                 "--duration", str(int(seconds)), "--rate", "100", "--nonblocking", "--threads",
                 "--format", SPY_FORMATS[profile[1]][0], "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return spies


def wal_lsn(url: str | None) -> int | None:
    """The primary's current WAL position, in bytes (None for the ceiling, which has no database)."""
    if not url:
        return None
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    return int(row[0]) if row else None


def rss_mb(process: psutil.Process) -> float | None:
    try:
        return round(process.memory_info().rss / 2**20, 1)
    except psutil.Error:
        return None


def per_claim(ok: int, cpu: list[float], wal_before: int | None, wal_after: int | None) -> dict[str, Any] | None:
    """CPU milliseconds (API, projections, PostgreSQL) and WAL bytes per claim acknowledged."""
    if not ok:
        return None
    return {"api_cpu_ms": round(1000 * cpu[2] / ok, 3), "projections_cpu_ms": round(1000 * cpu[3] / ok, 3),
            "postgres_cpu_ms": round(1000 * cpu[1] / ok, 3),
            "wal_bytes": None if wal_before is None or wal_after is None else round((wal_after - wal_before) / ok)}


def disk(url: str, schema: str) -> dict[str, Any]:
    """Bytes on disk per event (the events table with its indexes and TOAST) and of the views, in ``schema``."""
    with psycopg.connect(url, autocommit=True) as conn:
        events = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(schema, "claims_events"))).fetchone()[0]
        sizes = dict(conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r'", (schema,)).fetchall())
    table, chain = sizes.get("claims_events", 0), sizes.get("event_chain", 0)
    views = sum(v for k, v in sizes.items() if k not in ("claims_events", "event_chain"))

    def each(n: int) -> int | None:
        return round(n / events) if events else None

    return {"events": events, "events_table_bytes": table, "bytes_per_event": each(table),
            "chain_bytes_per_event": each(chain), "views_bytes": views, "view_bytes_per_event": each(views)}


class Watcher(threading.Thread):
    """Polls the claims projection's position (its tracking table, in the database) every 20 ms.

    Straight from the database rather than GET /v1/projections: under load that answer took
    120 ms (p50) to 350 ms (p99) here, which would blur the lag and load the server measured.
    """

    def __init__(self, position: Callable[[], int], every: float = 0.02) -> None:
        super().__init__(name="bench-watcher", daemon=True)
        self.position = position
        self.every = every
        self.polls: list[tuple[float, int]] = []  # (answered at, position), times as the load generator's
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                position = self.position()
            except Exception:  # noqa: BLE001  (a failed poll is a poll less, not the end of the measurement)
                position = None
            if position is not None:
                self.polls.append((time.monotonic(), position))
            self.stop.wait(self.every)

    def until(self, position: int, timeout: float = 60) -> None:
        """Keep polling until the projection has reached ``position`` (or ``timeout``), then stop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (not self.polls or self.polls[-1][1] < position):
            time.sleep(self.every)
        self.stop.set()
        self.join()


def lag(written: list[tuple[float, int]], polls: list[tuple[float, int]]) -> dict[str, Any]:
    """Per 201: from its answer to the first poll answered after it that shows the claims projection at its position.

    An upper bound, by at most one poll interval and one query (a millisecond or so). Positions
    only grow, so that poll is found by bisection among the polls answered after the 201.
    """
    times = [t for t, _ in polls]
    positions = [p for _, p in polls]
    lags, unresolved = [], 0
    for done, position in written:
        i = max(bisect.bisect_left(times, done), bisect.bisect_left(positions, position))
        if i == len(polls):
            unresolved += 1
        else:
            lags.append(times[i] - done)
    lags.sort()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return {
        "writes": len(written),
        "measured": len(lags),
        "unresolved": unresolved,
        "p50_s": seconds3(quantile(lags, 0.5)),
        "p99_s": seconds3(quantile(lags, 0.99)),
        "max_s": seconds3(lags[-1] if lags else None),
        "polls": len(polls),
        "poll_interval_ms": ms(statistics.mean(gaps)) if gaps else None,
    }


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile of sorted ``values`` (nearest rank)."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def seconds3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def wait_caught_up(srv: Server, timeout: float = 300) -> None:
    """Until every projection is at the log's head (after a load, before the lag is measured)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(i["lag"] == 0 for i in srv.get("/v1/projections")["items"]):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the projections did not catch up within {timeout}s: {srv.get('/v1/projections')}")


# -- all of it -----------------------------------------------------------------------------


def measure(  # noqa: PLR0913
    home: Path = ROOT / ".claims" / "bench-ingest",
    clients: tuple[int, ...] = (32, 128),
    seconds: float = 10,
    runs: int = 1,
    *,
    warmup: float = 2,
    generators: int = 1,
    servers: tuple[str, ...] = SERVERS,
    lag_rate: float | None = 1_000,
    lag_clients: int = 32,
    profile: str | None = None,
    seed: int = 1,
    json_path: Path | None = None,
) -> dict[str, Any]:
    """Measure ingest over HTTP against each server, and the projection lag; print tables, write JSON, answer it all.

    The load generators are started with multiprocessing's "spawn", which imports the caller's
    main module again: a script calling this needs the usual ``if __name__ == "__main__":`` guard.
    """
    settings = Settings(home=home)
    database = Database(settings)
    url = database.start()
    stamp = f"{os.getpid()}_{int(time.time())}"
    bodies = make_bodies(4_000, seed)
    out = json_path or RESULTS / f"ingest-{'-'.join(map(str, clients))}c-{seconds:g}s.json"
    logs = out.parent / "logs"  # each server's output
    logs.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "clients": list(clients), "seconds": seconds, "warmup": warmup, "runs": runs, "generators": generators,
        "machine": machine(), "git": git_state(), "postgres": None,
        "body_bytes_mean": round(statistics.mean(len(b) for b in bodies)),
        "servers": {}, "lag": None,
    }
    m = result["machine"]
    console.print(f"machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB; "
                  f"{len(bodies):,} claim bodies, {result['body_bytes_mean']} bytes on average")
    try:
        for name in servers:
            schema = f"bench_ingest_{stamp}_{name}"
            pg = None
            if name != "ceiling":
                info = prepare(url, schema, seed)
                result["postgres"] = result["postgres"] or info
                pg = postmaster(info)
            srv = None
            try:
                srv = start_server(name, url, schema, home, logs)
                console.print(f"[bold]{DESCRIBED[name]}[/] on {srv.url} (pid {srv.ps.pid}, log {srv.log})")
                figures: dict[str, Any] = {}
                for c in clients:
                    tries = []
                    for i in range(runs):
                        spy = ((RESULTS / f"ingest-{name}-{c}", profile)
                               if profile and name != "ceiling" and i == 0 else None)
                        tries.append(drive(srv, bodies, clients=c, seconds=seconds, warmup=warmup,
                                           generators=generators, pg=pg, profile=spy))
                        say(name, tries[-1])
                    figures[str(c)] = {**median_run(tries), "runs": tries}
                result["servers"][name] = figures
                if name != "ceiling":
                    wait_caught_up(srv)
                    result.setdefault("disk", {})[name] = disk(url, schema)
                if name == "service" and lag_rate:
                    wait_caught_up(srv)
                    console.print(f"projection lag at {lag_rate:,.0f} claims/s, {lag_clients} clients …")
                    watching = bootstrap(Settings(database_url=url, db_schema=schema, pool_size=1))
                    try:
                        result["lag"] = drive(srv, bodies, clients=lag_clients, seconds=seconds, warmup=warmup,
                                              rate=lag_rate, watch=watching.view("claims").position, pg=pg)
                    finally:
                        watching.close()
                    say("service, paced", result["lag"])
            finally:
                if srv is not None:
                    srv.stop()
                if name != "ceiling":
                    drop(url, schema)
    finally:
        database.stop()
    result["targets"] = verdicts(result)
    report(result)
    out.write_text(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    console.print(f"results: {out}")
    return result


def median_run(tries: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median claims/s (its own latencies and CPU with it)."""
    ordered = sorted(tries, key=lambda t: t["claims_per_second"])
    return {k: v for k, v in ordered[(len(ordered) - 1) // 2].items() if k != "runs"}


def say(name: str, r: dict[str, Any]) -> None:
    cpu = r["cpu_percent"]
    line = (f"  {name}, {r['clients']} clients: {r['claims_per_second']:,} claims/s, p50 {r['latency_ms']['p50']} ms,"
            f" p99 {r['latency_ms']['p99']} ms, errors {r['errors'] or 0}; CPU % server {cpu['server']},"
            f" postgres {cpu['postgres']}, generator {cpu['generator']}")
    if r.get("lag"):
        lg = r["lag"]
        line += f"; lag p50 {lg['p50_s']} s, p99 {lg['p99_s']} s, max {lg['max_s']} s"
    console.print(line)


# -- the verdict ---------------------------------------------------------------------------


def verdicts(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: the figure, its references from the same run, the target, met or not (None: not measured)."""
    servers = result["servers"]
    c = str(TARGET_CLIENTS)

    def rate(name: str, clients: str = c) -> int | None:
        run = servers.get(name, {}).get(clients)
        return None if run is None else run["claims_per_second"]

    def p99(name: str, clients: str = c) -> float | None:
        run = servers.get(name, {}).get(clients)
        return None if run is None else run["latency_ms"]["p99"]

    def num(value: Any) -> str:
        return "–" if value is None else f"{value:,}"

    def met(value: Any, ok: Any) -> bool | None:
        return None if value is None else bool(ok(value))

    rows = []

    def row(figure: str, value: Any, reference: str, target: str, verdict: bool | None) -> None:
        rows.append({"figure": figure, "value": value, "reference": reference, "target": target, "met": verdict})

    service, naive, ceiling = rate("service"), rate("naive"), rate("ceiling")
    vs_naive = round(service / naive, 2) if service and naive else None
    vs_ceiling = round(service / ceiling, 2) if service and ceiling else None
    row(f"service, {c} clients: claims/s", service, "", f"≥ {TARGET_RATE:,}",
        met(service, lambda v: v >= TARGET_RATE))
    row(f"service ÷ naive path, {c} clients", vs_naive, f"naive {num(naive)} claims/s", f"≥ {TARGET_VS_NAIVE:g}×",
        met(vs_naive, lambda v: v >= TARGET_VS_NAIVE))
    row(f"service ÷ framework ceiling, {c} clients", vs_ceiling, f"ceiling {num(ceiling)} claims/s",
        f"≥ {TARGET_VS_CEILING:g}×", met(vs_ceiling, lambda v: v >= TARGET_VS_CEILING))
    row(f"service, {c} clients: p99 latency ms", p99("service"),
        f"naive {num(p99('naive'))}, ceiling {num(p99('ceiling'))}", f"≤ {TARGET_P99_MS}",
        met(p99("service"), lambda v: v <= TARGET_P99_MS))
    for clients in sorted({k for k in servers.get("service2", {})}, key=int):
        two, one = rate("service2", clients), rate("service", clients)
        row(f"two API processes (--workers 2), {clients} clients: claims/s (p99 ms)",
            f"{num(two)} ({num(p99('service2', clients))})",
            f"one API process {num(one)} ({num(p99('service', clients))}); ×{two / one:.2f}" if two and one else "",
            "", None)
    if rate("inprocess") is not None:
        row(f"in one process (projections in-process), {c} clients: claims/s (p99 ms)",
            f"{num(rate('inprocess'))} ({num(p99('inprocess'))})", "", "", None)
    for other in sorted({k for s in servers.values() for k in s} - {c}, key=int):  # e.g. 128: no target
        row(f"service, {other} clients: claims/s (p99 ms)",
            f"{num(rate('service', other))} ({num(p99('service', other))})",
            f"naive {num(rate('naive', other))} ({num(p99('naive', other))}),"
            f" ceiling {num(rate('ceiling', other))} ({num(p99('ceiling', other))})", "", None)
    paced = result.get("lag")
    if paced:
        achieved, wanted, lag_p99 = paced["claims_per_second"], paced["target_rate"], paced["lag"]["p99_s"]
        short = "" if achieved >= 0.98 * wanted else f" (short of {wanted:,.0f})"
        row(f"projection lag p99 s at {wanted:,.0f} claims/s", lag_p99,
            f"achieved {achieved:,} claims/s{short}; lag p50 {num(paced['lag']['p50_s'])} s,"
            f" max {num(paced['lag']['max_s'])} s",
            f"≤ {TARGET_LAG_P99_S:g} s at {wanted:,.0f}/s",
            met(lag_p99, lambda v: v <= TARGET_LAG_P99_S and achieved >= 0.98 * wanted))
    return rows


def report(result: dict[str, Any]) -> None:
    table = Table(title=f"Ingest over HTTP: POST /v1/claims, {result['seconds']:g} s per load after"
                        f" {result['warmup']:g} s warm-up, {result['generators']} generator process(es)")
    for column in ("server", "clients", "claims/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors",
                   "CPU % server / postgres / generator", "claims projection behind at end"):
        table.add_column(column, justify="left" if column in ("server", "errors") else "right")
    loads = [(n, r) for n, s in result["servers"].items() for r in s.values()]
    if result.get("lag"):
        loads.append((f"service paced at {result['lag']['target_rate']:,.0f}/s", result["lag"]))
    for label, r in loads:
        lat, cpu = r["latency_ms"], r["cpu_percent"]
        behind = r.get("projection_lag_events_at_end")
        table.add_row(label, str(r["clients"]), f"{r['claims_per_second']:,}", *(str(lat[k]) for k in lat),
                      ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0",
                      f"{cpu['server']} / {'–' if cpu['postgres'] is None else cpu['postgres']} / {cpu['generator']}",
                      "" if behind is None else f"{behind.get('claims', 0):,} events")
    console.print(table)
    console.print("; ".join(f"{name}: {DESCRIBED[name]}" for name in result["servers"]), highlight=False)
    for name, figures in result["servers"].items():
        for clients, r in figures.items():
            if r.get("per_claim"):
                pc, rss = r["per_claim"], r["rss_mb"]
                console.print(f"{name}, {clients} clients, per claim: API {pc['api_cpu_ms']} ms CPU, projections"
                              f" {pc['projections_cpu_ms']} ms, PostgreSQL {pc['postgres_cpu_ms']} ms, WAL"
                              f" {pc['wal_bytes']} bytes; RSS MB API {rss['api']}, projections {rss['projections']},"
                              f" PostgreSQL {rss['postgres']}", highlight=False)
    for name, d in (result.get("disk") or {}).items():
        console.print(f"{name}: {d['events']:,} events, on disk per event: {d['bytes_per_event']} bytes (events"
                      f" table), {d['chain_bytes_per_event']} (hash chain), {d['view_bytes_per_event']} (views, keys,"
                      " idempotency)", highlight=False)
    targets = Table(title="Targets (issue: speed at scale)")
    for column in ("figure", "value", "reference (same run)", "target", ""):
        targets.add_column(column, justify="right" if column == "value" else "left")
    for t in result["targets"]:
        mark = {True: "[green]met[/]", False: "[red]missed[/]", None: ""}[t["met"]]
        value = t["value"] if isinstance(t["value"], str) else ("–" if t["value"] is None else f"{t['value']:,}")
        targets.add_row(t["figure"], value, t["reference"], t["target"], mark)
    console.print(targets)
    if result.get("lag"):
        lg = result["lag"]["lag"]
        console.print(f"lag: {lg['measured']:,} of {lg['writes']:,} writes seen projected ({lg['unresolved']} not"
                      f" within a minute); the claims projection's position polled every {lg['poll_interval_ms']} ms"
                      " (the lag is an upper bound, by at most one interval)", highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".claims" / "bench-ingest",
                        help="the embedded server's home (default .claims/bench-ingest); not used with DATABASE_URL")
    parser.add_argument("--clients", default="32,128", help="concurrent clients, one load each (default 32,128)")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per load (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of load before each measurement (default 2)")
    parser.add_argument("--runs", type=int, default=1, help="loads per server and clients; the median is reported")
    parser.add_argument("--generators", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"which of {', '.join(SERVERS)} (default all)")
    parser.add_argument("--lag-rate", type=float, default=1_000,
                        help="claims/s of the paced load whose projection lag is measured (0: no lag run)")
    parser.add_argument("--lag-clients", type=int, default=32, help="clients of the paced load (default 32)")
    parser.add_argument("--profile", nargs="?", const="svg", choices=sorted(SPY_FORMATS),
                        help="py-spy of each real server's API process and projection worker during its first load,"
                             " in bench/results/: svg (flame graph, the default), txt (collapsed stacks), json"
                             " (speedscope)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="where to write the results")
    args = parser.parse_args(argv)
    servers = tuple(s.strip() for s in args.servers.split(",") if s.strip())
    if set(servers) - set(SERVERS):
        parser.error(f"unknown servers: {', '.join(sorted(set(servers) - set(SERVERS)))}")
    if args.profile and shutil.which("py-spy", path=str(Path(sys.executable).parent)) is None:
        parser.error("--profile needs py-spy next to this Python")
    measure(args.home, tuple(int(c) for c in args.clients.split(",")), args.seconds, args.runs, warmup=args.warmup,
            generators=args.generators, servers=servers, lag_rate=args.lag_rate or None,
            lag_clients=args.lag_clients, profile=args.profile, seed=args.seed, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
