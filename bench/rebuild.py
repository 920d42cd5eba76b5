"""How fast do the projections rebuild, and does memory stay flat? (docs/performance.md)

    python -m bench.rebuild --events 1000000 [--home DIR] [--runs 3] [--profile] [--isolated] [--json out.json]

1. Makes sure the log holds at least ``--events`` events, generating a synthetic one through
   the application if not (bench/synth.py); a log already there is reused, or extended.
2. Rebuilds every projection from the first event, as an operator would: a rebuild request
   per projection in the control table, then the projection runner (the same code as
   ``claims project``), all four projections rebuilding at once. It measures the wall time
   from starting the runner to the last rebuilt view swapped in, each projection's own time,
   the process's RSS (sampled every 50 ms; noted at 25/50/75/100 % of the rebuild), and the
   CPU time of this process and of the PostgreSQL server.
3. Prints a table and writes JSON (default bench/results/rebuild-<N>.json).

``--profile`` adds a rebuild of all projections under cProfile (one profiler per worker
thread, merged) and one of each projection alone, and prints where the time goes.
``--isolated`` adds one rebuild per projection on its own. ``--experiments`` times reading
and decoding the log alone, and one reader feeding every projection in one thread.
``DATABASE_URL`` (if set) names the database instead of the embedded server under ``--home``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import inspect
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

from adapters.settings import Settings
from api.bootstrap import Services, bootstrap
from projections.control import Control
from projections.runner import LIVE_BATCH, PROJECTIONS, REBUILD_BATCH, Runner, Worker, status
from projections.view import View

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGET = 30_000  # events of the log per second, all projections together (the first issue's target)
RATIO_TARGET = 1.0  # the rebuild's rate over reading and decoding the log in Python, same run (issue "Speed II")
SAMPLE_EVERY = 0.05
console = Console(width=max(170, Console().width))


# -- the log ------------------------------------------------------------------------------


def ensure_log(services: Services, events: int, *, chunk: int, seed: int) -> dict[str, Any] | None:
    """Generate events until the log holds ``events``; answer the generation's figures (None: reused)."""
    head = services.app.recorder.max_notification_id() or 0
    made = RESULTS / f"generate-{events}.json"
    if head >= events:
        console.print(f"[green]reusing the log: {head:,} events (≥ {events:,})[/]")
        return {"reused": True, **(json.loads(made.read_text()) if made.exists() else {})}
    from bench.synth import Generator, generation_app

    console.print(f"generating: the log holds {head:,} events, {events:,} wanted")
    assert services.database.url is not None
    app = generation_app(services.settings, services.database.url)
    try:
        stats = Generator(app, events, chunk=chunk, seed=seed, say=console.print).run()
    finally:
        app.close()
    figures = {"seed": seed, "chunk": chunk, **stats.as_dict()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    made.write_text(json.dumps(figures, indent=2))
    return figures


def log_summary(services: Services) -> dict[str, Any]:
    """How many events of each type the log holds, and how big they are."""
    recorder = services.app.recorder
    table = f'"{services.settings.db_schema}"."{recorder.events_table_name}"'  # type: ignore[attr-defined]
    with recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
        rows = curs.execute(
            f"SELECT topic, count(*) AS n, avg(length(state))::int AS avg_bytes FROM {table}"  # noqa: S608
            " GROUP BY topic ORDER BY n DESC"
        ).fetchall()
        size = curs.execute("SELECT pg_total_relation_size(%s) AS b", (table,)).fetchone()["b"]
    by_type = {r["topic"].rsplit(":", 1)[-1]: {"events": r["n"], "avg_bytes": r["avg_bytes"]} for r in rows}
    return {
        "events": recorder.max_notification_id() or 0,
        "by_type": by_type,
        "events_table_bytes": size,
    }


# -- machine and server -------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def server(services: Services) -> dict[str, Any]:
    info: dict[str, Any] = {"embedded": services.database.embedded}
    names = ("shared_buffers", "work_mem", "maintenance_work_mem", "synchronous_commit", "fsync",
             "max_wal_size", "wal_level", "effective_io_concurrency", "data_directory")
    with services.app.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
        info["version"] = curs.execute("SELECT version() AS v").fetchone()["v"]
        rows = curs.execute("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(names),))
        for row in rows.fetchall():
            info[row["name"]] = row["setting"] + (f" ({row['unit']})" if row["unit"] else "")
    return info


def postmaster(info: dict[str, Any]) -> psutil.Process | None:
    """The server's main process, if it runs on this machine and we may look at it."""
    try:
        pid = int((Path(info["data_directory"]) / "postmaster.pid").read_text().split()[0])
        return psutil.Process(pid)
    except (KeyError, OSError, ValueError, IndexError, psutil.Error):
        return None


def server_cpu(main: psutil.Process | None) -> dict[int, float]:
    """CPU seconds (user + system) of the server's processes, by pid."""
    if main is None:
        return {}
    out = {}
    for proc in [main, *main.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def git_state() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": run("rev-parse", "--short", "HEAD"), "changed": run("status", "--porcelain").splitlines()}


# -- one rebuild --------------------------------------------------------------------------


def trimmed() -> int:
    """This process's RSS once garbage is collected and malloc has given free memory back to the system.

    RSS stays at its high-water mark after a rebuild (glibc keeps freed memory in its
    per-thread arenas); what is left after a trim is what is still in use.
    """
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return psutil.Process().memory_info().rss


class Sampler(threading.Thread):
    """Samples this process's RSS, Python's allocated blocks and the rebuild's progress every 50 ms.

    ``sys.getallocatedblocks()`` counts the small objects Python holds (events, dicts, rows):
    live data, unlike RSS, which also counts what the allocator keeps after it was freed.
    """

    def __init__(self, progress: Callable[[], float]) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.progress = progress
        self.proc = psutil.Process()
        self.stop = threading.Event()
        self.peak = 0
        self.peak_blocks = 0
        self.at: dict[str, int] = {}  # "25%" -> RSS when the rebuild passed it
        self.blocks_at: dict[str, int] = {}
        self.timeline: list[tuple[float, int, int, float]] = []  # (seconds, RSS, blocks, progress), one a second
        self.started = time.perf_counter()

    def run(self) -> None:
        last = -1.0
        while not self.stop.is_set():
            self.sample()
            now = time.perf_counter() - self.started
            if now - last >= 1.0:
                self.timeline.append((round(now, 2), self.proc.memory_info().rss, sys.getallocatedblocks(),
                                      round(self.progress(), 4)))
                last = now
            self.stop.wait(SAMPLE_EVERY)

    def sample(self) -> int:
        rss = self.proc.memory_info().rss
        blocks = sys.getallocatedblocks()
        self.peak = max(self.peak, rss)
        self.peak_blocks = max(self.peak_blocks, blocks)
        done = self.progress()
        for mark in (0.25, 0.5, 0.75):
            if done >= mark and f"{mark:.0%}" not in self.at:
                self.at[f"{mark:.0%}"] = rss
                self.blocks_at[f"{mark:.0%}"] = blocks
        return rss


def rebuild(services: Services, names: list[str], *, profile: bool = False, timeout: float = 7200) -> dict[str, Any]:
    """Rebuild ``names`` from the first event at once with the projection runner; measure it."""
    app = services.app
    head = app.recorder.max_notification_id() or 0
    control = Control(app.recorder.datastore)  # type: ignore[attr-defined]
    timings: dict[str, dict[str, float]] = {}
    profiles: list[cProfile.Profile] = []
    original = Worker._rebuild  # noqa: SLF001

    def measured(worker: Worker) -> None:
        record = timings.setdefault(worker.name, {})
        record["start"] = time.perf_counter()
        profiler = cProfile.Profile() if profile else None
        try:
            if profiler is not None:
                profiler.enable()  # this worker's thread only
            original(worker)
        finally:
            if profiler is not None:
                profiler.disable()
                profiles.append(profiler)
            record["end"] = time.perf_counter()

    runner = None

    def progress() -> float:
        if runner is None or not head:
            return 0.0
        done = 0
        for name in names:
            worker = runner.workers[name]
            if "end" in timings.get(name, {}):
                done += head
            elif worker.progress is not None:
                done += min(worker.progress.done, head)
        return done / (head * len(names))

    trimmed()
    gc_time = [0.0, 0]  # seconds in Python's cyclic garbage collector, collections of the oldest generation
    gc_started: dict[int, float] = {}

    def gc_clock(phase: str, info: dict[str, Any]) -> None:
        key = threading.get_ident()
        if phase == "start":
            gc_started[key] = time.perf_counter()
        elif key in gc_started:
            gc_time[0] += time.perf_counter() - gc_started.pop(key)
            gc_time[1] += info.get("generation") == 2

    sampler = Sampler(progress)
    baseline = sampler.sample()
    blocks_before = sys.getallocatedblocks()
    pg = postmaster(services_info(services))
    pg_before = server_cpu(pg)
    me = psutil.Process()
    cpu_before = me.cpu_times()
    for name in names:
        control.request_rebuild(name)
    Worker._rebuild = measured  # type: ignore[method-assign]  # noqa: SLF001
    gc.callbacks.append(gc_clock)
    try:
        started = time.perf_counter()
        sampler.started = started
        sampler.start()
        runner = services.run_projections(names)
        deadline = started + timeout
        while not all("end" in timings.get(n, {}) for n in names):
            stopped = [n for n in names if runner.workers[n].state == "stopped"]
            if stopped:
                raise RuntimeError(f"projection {stopped[0]} stopped: {runner.workers[stopped[0]].error}")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"rebuild not done after {timeout}s")
            time.sleep(SAMPLE_EVERY)
        wall = max(timings[n]["end"] for n in names) - started
        at_end = sampler.sample()
        blocks_at_end = sys.getallocatedblocks()
        # Each rebuilt view is vacuumed after its swap, once older transactions are over (the
        # reads measured next need it): not in ``wall``, timed here.
        while any(runner.workers[n].vacuum_pending for n in names) and time.perf_counter() < deadline:
            time.sleep(SAMPLE_EVERY)
        vacuumed = time.perf_counter() - started
        vacuums = {n: runner.workers[n].last_vacuum for n in names}
    finally:
        gc.callbacks.remove(gc_clock)
        Worker._rebuild = original  # type: ignore[method-assign]  # noqa: SLF001
        sampler.stop.set()
        if services.runner is not None:
            services.runner.stop()
            services.runner = None
    sampler.join()
    retained = trimmed()
    blocks_after = sys.getallocatedblocks()
    cpu_after = me.cpu_times()
    pg_after = server_cpu(pg)
    states = {s["name"]: s for s in status(app, services.views) if s["name"] in names}
    behind = {n: s["lag"] for n, s in states.items() if s["position"] < head}
    if behind:
        raise RuntimeError(f"rebuilt views not at the log's head ({head}): {behind}")

    result: dict[str, Any] = {
        "projections": names,
        "events": head,
        "wall_seconds": round(wall, 2),
        "wall_with_vacuum_seconds": round(vacuumed, 2),  # until every rebuilt view was vacuumed too
        "vacuum": vacuums,  # per projection: seconds, pages all-visible of how many, seconds it waited
        "events_per_second": round(head / wall),
        "projection_events_per_second": round(head * len(names) / wall),
        "per_projection": {
            n: {
                "seconds": round(timings[n]["end"] - timings[n]["start"], 2),
                "events_per_second": round(head / (timings[n]["end"] - timings[n]["start"])),
            }
            for n in names
        },
        "rss_mb": {
            "before": mb(baseline),
            **{k: mb(v) for k, v in sorted(sampler.at.items())},
            "100%": mb(at_end),
            "peak": mb(sampler.peak),
            "after (trimmed)": mb(retained),
        },
        "python_blocks_k": {
            "before": blocks_before // 1000,
            **{k: v // 1000 for k, v in sorted(sampler.blocks_at.items())},
            "100%": blocks_at_end // 1000,
            "peak": sampler.peak_blocks // 1000,
            "after": blocks_after // 1000,
        },
        "gc_seconds": round(gc_time[0], 1),
        "gc_full_collections": gc_time[1],
        "cpu_seconds": {
            "python": round((cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system), 1),
            "postgres": round(sum(t - pg_before.get(pid, 0.0) for pid, t in pg_after.items()), 1) if pg else None,
        },
        "timeline": [(t, mb(r), b // 1000, p) for t, r, b, p in sampler.timeline],
    }
    if profile:
        result["profile"] = profile_report(profiles, names)
    return result


_INFO: dict[int, dict[str, Any]] = {}


def services_info(services: Services) -> dict[str, Any]:
    key = id(services)
    if key not in _INFO:
        _INFO[key] = server(services)
    return _INFO[key]


def mb(n: int) -> float:
    return round(n / 2**20, 1)


def profile_report(profiles: list[cProfile.Profile], names: list[str]) -> dict[str, Any]:
    stats = pstats.Stats(profiles[0])
    for p in profiles[1:]:
        stats.add(p)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"rebuild-{'-'.join(names) if len(names) < len(PROJECTIONS) else 'all'}.prof"
    stats.dump_stats(path)
    out = {"file": str(path.relative_to(ROOT))}
    for key in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(str(path), stream=text).sort_stats(key).print_stats(25)
        out[key] = _short_paths(text.getvalue())
    return out


def _short_paths(text: str) -> str:
    """psycopg/cursor.py rather than /…/site-packages/psycopg/cursor.py."""
    import sysconfig

    for prefix in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], sysconfig.get_paths()["stdlib"]}:
        text = text.replace(prefix + "/", "")
    return text.replace(str(ROOT) + "/", "")


# -- experiments: what a different runner design would give -----------------------------


def decode_only(services: Services) -> dict[str, Any]:
    """Read and decode the whole log once, in REBUILD_BATCH batches: the floor of any rebuild in Python."""
    app = services.app
    position, events, started = 0, 0, time.perf_counter()
    read = 0.0
    while True:
        t = time.perf_counter()
        notifications = app.recorder.select_notifications(start=position + 1, limit=REBUILD_BATCH)
        read += time.perf_counter() - t
        if not notifications:
            break
        for n in notifications:
            app.mapper.to_domain_event(n)
        events += len(notifications)
        position = notifications[-1].id
    wall = time.perf_counter() - started
    return {"events": events, "wall_seconds": round(wall, 2), "events_per_second": round(events / wall),
            "select_seconds": round(read, 2), "decode_seconds": round(wall - read, 2)}


def shared_reader(services: Services, names: list[str]) -> dict[str, Any]:
    """One thread reads and decodes each batch once and applies it to every projection in turn.

    The projections' own code (``process_batch``) on tables of their own (suffix ``_bench``,
    dropped afterwards); only the runner around them differs from the real one.
    """
    from eventsourcing.persistence import Tracking

    from projections.view import APPLICATION

    app = services.app
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    targets = {}
    deferring = "defer_indexes" in inspect.signature(View.__init__).parameters  # as the runner's rebuild does
    for name in names:
        view_class, projection_class = PROJECTIONS[name]
        view = view_class(datastore, suffix="_bench", **({"defer_indexes": True} if deferring else {}))
        view.drop()
        view.create_table()
        targets[name] = projection_class(view)
    spent = dict.fromkeys(names, 0.0)
    position, events, decode = 0, 0, 0.0
    proc = psutil.Process()
    peak = proc.memory_info().rss
    started = time.perf_counter()
    try:
        while True:
            t = time.perf_counter()
            notifications = app.recorder.select_notifications(start=position + 1, limit=REBUILD_BATCH)
            if not notifications:
                break
            batch = [(n.id, app.mapper.to_domain_event(n)) for n in notifications]
            decode += time.perf_counter() - t
            tracking = Tracking(APPLICATION, notifications[-1].id)
            for name, projection in targets.items():
                t = time.perf_counter()
                projection.process_batch(batch, tracking)
                spent[name] += time.perf_counter() - t
            events += len(batch)
            position = notifications[-1].id
            peak = max(peak, proc.memory_info().rss)
        if deferring:
            for name, projection in targets.items():
                t = time.perf_counter()
                projection.view.create_deferred_indexes()
                spent[name] += time.perf_counter() - t
        wall = time.perf_counter() - started
    finally:
        for projection in targets.values():
            projection.view.drop()
    return {
        "events": events, "wall_seconds": round(wall, 2), "events_per_second": round(events / wall),
        "read_and_decode_seconds": round(decode, 2),
        "apply_seconds": {n: round(v, 2) for n, v in spent.items()},
        "peak_rss_mb": mb(peak),
    }


# -- reporting ----------------------------------------------------------------------------


def run_table(title: str, runs: list[dict[str, Any]], names: list[str]) -> Table:
    table = Table(title=title)
    for column in ("run", "wall s", "log events/s", "× decode", *(f"{n} ev/s" for n in names),
                   "RSS MB before", "RSS MB at 25/50/75/100%", "RSS MB peak", "RSS MB after, trimmed",
                   "Python kblocks before/peak/after", "CPU s python", "CPU s postgres"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for i, r in enumerate(runs, 1):
        rss = r["rss_mb"]
        table.add_row(
            r.get("label", str(i)),
            f"{r['wall_seconds']:,.1f}",
            f"{r['events_per_second']:,}",
            f"{r['ratio_to_decode']}" if "ratio_to_decode" in r else "",
            *[f"{r['per_projection'][n]['events_per_second']:,}" if n in r["per_projection"] else "" for n in names],
            str(rss["before"]),
            " / ".join(str(rss.get(k, "–")) for k in ("25%", "50%", "75%", "100%")),
            str(rss["peak"]),
            str(rss["after (trimmed)"]),
            "{before} / {peak} / {after}".format(**r["python_blocks_k"]),
            str(r["cpu_seconds"]["python"]),
            str(r["cpu_seconds"]["postgres"]),
        )
    return table


def median_of(runs: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    if not runs:
        return {}
    return {
        "runs": len(runs),
        "wall_seconds": statistics.median(r["wall_seconds"] for r in runs),
        "events_per_second": statistics.median(r["events_per_second"] for r in runs),
        "per_projection_events_per_second": {
            n: statistics.median(r["per_projection"][n]["events_per_second"] for r in runs) for n in names
        },
        "peak_rss_mb": statistics.median(r["rss_mb"]["peak"] for r in runs),
        "ratio_to_decode": statistics.median(r["ratio_to_decode"] for r in runs) if "ratio_to_decode" in runs[0] else None,
        "decode_events_per_second": statistics.median(r["decode_reference"]["events_per_second"] for r in runs)
        if "decode_reference" in runs[0] else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rebuild", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events the log must hold (default 1,000,000)")
    parser.add_argument("--home", type=Path, default=ROOT / ".claims" / "bench",
                        help="the embedded server's home (default .claims/bench); ignored when DATABASE_URL is set")
    parser.add_argument("--runs", type=int, default=1, help="timed rebuilds of all projections (default 1)")
    parser.add_argument("--profile", action="store_true", help="rebuilds under cProfile: all at once, then each alone")
    parser.add_argument("--isolated", action="store_true", help="also rebuild each projection on its own")
    parser.add_argument("--experiments", action="store_true",
                        help="also time decoding the log alone, and one reader feeding every projection in one thread")
    parser.add_argument("--projections", default=",".join(PROJECTIONS), help="which ones (default: all)")
    parser.add_argument("--generate-only", action="store_true", help="make the log, measure nothing")
    parser.add_argument("--python", action="store_true", help="rebuild every view in Python (no set-based rebuilds)")
    parser.add_argument("--chunk", type=int, default=5_000, help="claims per generated batch (default 5,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="where to write the results (default bench/results/rebuild-N.json)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.projections.split(",") if n.strip()]
    unknown = set(names) - set(PROJECTIONS)
    if unknown:
        parser.error(f"unknown projections: {', '.join(sorted(unknown))}")

    settings = Settings(home=args.home, run_projections=False)
    services = bootstrap(settings)
    try:
        generation = ensure_log(services, args.events, chunk=args.chunk, seed=args.seed)
        if args.generate_only:
            return 0
        log = log_summary(services)
        info = services_info(services)
        result: dict[str, Any] = {
            "requested_events": args.events,
            "log": log,
            "generation": generation,
            "machine": machine(),
            "postgres": info,
            "git": git_state(),
            "rebuild_batch": REBUILD_BATCH,
            "live_batch": LIVE_BATCH,
            "target_events_per_second": TARGET,
            "runs": [],
        }
        m = result["machine"]
        console.print(f"log: {log['events']:,} events; machine: {m['cpus']} CPUs ({m['cpu_model']}),"
                      f" {m['memory_gb']} GB; PostgreSQL: {info['version'].split(',')[0]}")
        Runner.set_based = not args.python
        result["set_based"] = Runner.set_based
        for i in range(args.runs):
            # The reference, in the same run: reading and decoding the whole log in Python, nothing else.
            reference = decode_only(services)
            console.print(f"rebuild {i + 1}/{args.runs} of {', '.join(names)} ({'set-based' if Runner.set_based else 'in Python'}) …")
            run = rebuild(services, names)
            run["decode_reference"] = reference
            run["ratio_to_decode"] = round(run["events_per_second"] / reference["events_per_second"], 2)
            result["runs"].append(run)
            vacuums = ", ".join(f"{n} {v['seconds']}s" for n, v in run["vacuum"].items() if v)
            console.print(f"  {run['wall_seconds']:,.1f}s: {run['events_per_second']:,} events/s,"
                          f" {run['ratio_to_decode']}× reading and decoding the log ({reference['events_per_second']:,}/s),"
                          f" peak RSS {run['rss_mb']['peak']} MB; vacuumed after {run['wall_with_vacuum_seconds']:,.1f}s"
                          f" ({vacuums})")
        result["median"] = median_of(result["runs"], names)
        if args.isolated:
            result["isolated"] = []
            for name in names:
                console.print(f"rebuild of {name} alone …")
                run = rebuild(services, [name])
                run["label"] = name
                result["isolated"].append(run)
        if args.experiments:
            console.print("experiment: read and decode the log, nothing else …")
            result["decode_only"] = decode_only(services)
            console.print(f"  {result['decode_only']}")
            console.print("experiment: one reader, every projection in turn, one thread …")
            result["shared_reader"] = shared_reader(services, names)
            console.print(f"  {result['shared_reader']}")
        if args.profile:
            console.print("rebuild under cProfile, all together …")
            result["profiled"] = rebuild(services, names, profile=True)
            result["profiled_alone"] = []
            for name in names:
                console.print(f"rebuild under cProfile: {name} alone …")
                run = rebuild(services, [name], profile=True)
                run["label"] = name
                result["profiled_alone"].append(run)
    finally:
        services.close()

    if result["runs"]:
        console.print(run_table(f"Rebuild of {', '.join(names)}: {log['events']:,} events", result["runs"], names))
        med = result["median"]
        verdict = "[green]met[/]" if med["ratio_to_decode"] >= RATIO_TARGET else "[red]missed[/]"
        console.print(f"median of {med['runs']}: {med['events_per_second']:,} events/s of the log, all together,"
                      f" {med['ratio_to_decode']}× reading and decoding it ({med['decode_events_per_second']:,}/s;"
                      f" target ≥ {RATIO_TARGET}×: {verdict}); per projection: "
                      + ", ".join(f"{n} {v:,}" for n, v in med["per_projection_events_per_second"].items()))
    if result.get("isolated"):
        console.print(run_table("Each projection alone", result["isolated"], names))
    if result.get("profiled"):
        p = result["profiled"]
        console.print(f"profiled rebuild (slower under the profiler): {p['wall_seconds']:,.1f}s,"
                      f" {p['events_per_second']:,} events/s; profile in {p['profile']['file']}")
        console.print(p["profile"]["cumulative"], markup=False, highlight=False)
        console.print(p["profile"]["tottime"], markup=False, highlight=False)
        for p in result.get("profiled_alone", []):
            console.print(f"[bold]profile of {p['label']} alone[/] ({p['wall_seconds']:,.1f}s,"
                          f" {p['events_per_second']:,} events/s under the profiler)")
            console.print(p["profile"]["cumulative"], markup=False, highlight=False)
            console.print(p["profile"]["tottime"], markup=False, highlight=False)
    out = args.json or RESULTS / f"rebuild-{args.events}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    console.print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
