"""`claims serve` and `claims project`: the API's processes and the projection workers, until a signal stops them."""

from __future__ import annotations

import argparse
import gc
import signal
from typing import Any

from rich.console import Console

from adapters.settings import Settings
from api.bootstrap import bootstrap

err_console = Console(stderr=True, soft_wrap=True)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app
    from api.routers.events import feeds_end_on_exit

    given = (("host", args.host), ("port", args.port), ("workers", args.workers))
    settings = settings.model_copy(update={k: v for k, v in given if v is not None})
    if settings.workers < 1:
        err_console.print("[red]claims:[/red] --workers: at least 1")
        return 2
    # uvicorn re-raises SIGTERM after its graceful shutdown; turned into SystemExit here, it lets
    # the `finally` below leave the embedded server (which stops when its last user leaves).
    signal.signal(signal.SIGTERM, _exit)
    services = bootstrap(settings)
    from api.cli_keys import refuse_open_beyond_loopback

    if refusal := refuse_open_beyond_loopback(services.keys, settings.host):
        services.close()
        err_console.print(f"[red]claims:[/red] {refusal}")
        return 2
    if settings.run_projections:
        services.run_projections()
    try:
        where = "embedded PostgreSQL under " + str(settings.home) if services.database.embedded else "DATABASE_URL"
        err_console.print(f"claims: serving http://{settings.host}:{settings.port} (events in {where})")
        app = create_app(services=services)
        # What start-up made lives as long as the process: out of the collector's sight, a full
        # collection (every second or so under load) takes a millisecond, not 50.
        gc.collect()
        gc.freeze()
        if settings.workers > 1:
            serve_workers(settings, services)
        else:
            with feeds_end_on_exit(app):  # open GET /v1/events answers end when shutdown begins
                uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                            access_log=settings.access_log)
    finally:
        services.close()
    return 0


def serve_workers(settings: Settings, services: Any) -> None:
    """``settings.workers`` API processes on one port, under uvicorn's supervisor (this process).

    Each process is a fresh interpreter (uvicorn spawns them) that builds its own app, pool
    and group committer from the environment set here: the database's URL (this process
    keeps the embedded server, if any, for all of them), no projections (they run once:
    here, or in `claims project` workers), and one directory for the Prometheus counters of
    all of them. A worker that dies is replaced; SIGTERM stops each gracefully (in-flight
    requests answered, its group committer drained) before this process leaves.
    """
    import os
    import shutil
    import tempfile

    import uvicorn

    metrics_dir = tempfile.mkdtemp(prefix="claims-metrics-")
    os.environ.update({
        "DATABASE_URL": str(services.database.url),
        "CLAIMS_RUN_PROJECTIONS": "false",
        "CLAIMS_HOME": str(settings.home),
        "CLAIMS_DB_SCHEMA": settings.db_schema,
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
    })
    try:
        uvicorn.run("api.app:worker_app", factory=True, workers=settings.workers, host=settings.host,
                    port=settings.port, log_level="info", access_log=settings.access_log)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def project(args: argparse.Namespace, settings: Settings) -> int:
    signal.signal(signal.SIGTERM, _exit)
    from projections.runner import PROJECTIONS

    unknown = sorted(set(args.names) - set(PROJECTIONS))
    if unknown:
        err_console.print(f"[red]claims:[/red] no projection is called {', '.join(unknown)}; "
                          f"there are {', '.join(PROJECTIONS)}")
        return 2
    services = bootstrap(settings)
    try:
        services.run_projections(args.names or None)
        err_console.print("claims: running projections " + ", ".join(services.runner.workers))  # type: ignore[union-attr]
        services.runner.stopping.wait()  # type: ignore[union-attr]
    finally:
        services.close()
    return 0


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)
