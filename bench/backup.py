"""How fast, and in how much memory, do `claims export` and `claims import` run? (docs/performance.md)

    python -m bench.backup [--home DIR] [--events 1000000] [--json out.json]

On the large log under ``--home`` (the one bench.rebuild makes, generated here if missing):
``claims export FILE`` and ``claims import FILE`` (into a fresh schema of the same database)
run as processes of their own, their peak RSS sampled. Beside them, the reference: a raw
binary COPY of the same rows out of the events table and into a table of the same shape and
indexes (no hash chain, no checks, no JSON). The restored store's head must be the source's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from adapters.audit import AuditLog
from adapters.settings import Settings
from api.bootstrap import bootstrap
from bench.rebuild import ensure_log

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
console = Console()


def timed_process(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `claims ARGS…`; its wall time and peak RSS (sampled every 50 ms)."""
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    output = process.communicate()[0].decode(errors="replace")
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        raise RuntimeError(f"claims {' '.join(args)} failed ({process.returncode}):\n{output[-2000:]}")
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(peak / 1e6, 1)}


def raw_copy(database_url: str, schema: str, table: str, path: Path) -> dict[str, Any]:
    """COPY the events table out to a file and back into a fresh table like it (binary); time both."""
    source = sql.Identifier(schema, table)
    target = sql.Identifier(schema, f"{table}_backup_reference")
    columns = sql.SQL("notification_id, originator_id, originator_version, topic, state")
    with psycopg.connect(database_url, autocommit=True) as conn:
        began = time.perf_counter()
        with path.open("wb") as out, conn.cursor() as curs, curs.copy(
                sql.SQL("COPY {} ({}) TO STDOUT (FORMAT BINARY)").format(source, columns)) as copy:
            for block in copy:
                out.write(block)
        out_seconds = time.perf_counter() - began
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING INDEXES)").format(target, source))
        began = time.perf_counter()
        with conn.transaction(), path.open("rb") as data, conn.cursor() as curs, curs.copy(
                sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(target, columns)) as copy:
            while block := data.read(1 << 20):
                copy.write(block)
        in_seconds = time.perf_counter() - began
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()[0]  # type: ignore[index]
        conn.execute(sql.SQL("DROP TABLE {}").format(target))
    return {"rows": rows, "out_seconds": round(out_seconds, 3), "in_seconds": round(in_seconds, 3),
            "out_rows_per_second": round(rows / out_seconds), "in_rows_per_second": round(rows / in_seconds),
            "file_mb": round(path.stat().st_size / 1e6, 1)}


def measure(home: Path, events: int) -> dict[str, Any]:
    settings = Settings(home=home, run_projections=False)
    services = bootstrap(settings)
    restore_schema = f"bench_restore_{uuid.uuid4().hex[:8]}"
    url = services.database.url
    assert url is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")} | {"CLAIMS_HOME": str(home)}
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    try:
        ensure_log(services, events, chunk=5_000, seed=1)
        size, head = AuditLog.of(services.app).head()
        with tempfile.TemporaryDirectory(prefix="claims-backup-") as scratch:
            backup = Path(scratch) / "log.ndjson"
            console.print(f"export of {size:,} events …")
            exported = timed_process(["export", str(backup)], env)
            file_mb = round(backup.stat().st_size / 1e6, 1)
            console.print(f"import into schema {restore_schema} …")
            imported = timed_process(["import", str(backup)], env | {"CLAIMS_DB_SCHEMA": restore_schema})
            backup.unlink()
            with psycopg.connect(url) as conn:  # (a second bootstrap here would stop the embedded server on close)
                restored_size, restored_head = conn.execute(sql.SQL(
                    "SELECT count(*), (SELECT hash FROM {chain} ORDER BY position DESC LIMIT 1) FROM {chain}"
                ).format(chain=sql.Identifier(restore_schema, "event_chain"))).fetchone()  # type: ignore[misc]
            console.print("raw COPY of the same rows, out and in …")
            reference = raw_copy(url, services.app.recorder.datastore.schema,  # type: ignore[attr-defined]
                                 services.app.recorder.events_table_name, Path(scratch) / "raw.copy")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(restore_schema)))
        services.close()
    for figures in (exported, imported):
        figures["events_per_second"] = round(size / figures["seconds"])
    return {"events": size, "file_mb": file_mb, "export": exported, "import": imported, "raw_copy": reference,
            "same_head": (restored_size, bytes(restored_head)) == (size, head)}


def table(result: dict[str, Any]) -> Table:
    t = Table(title=f"Backup of {result['events']:,} events ({result['file_mb']:,} MB of NDJSON)")
    for column in ("step", "seconds", "events/s", "peak RSS MB", "raw COPY rows/s"):
        t.add_column(column, justify="right")
    ref = result["raw_copy"]
    t.add_row("claims export", f"{result['export']['seconds']:,}", f"{result['export']['events_per_second']:,}",
              f"{result['export']['peak_rss_mb']:,}", f"{ref['out_rows_per_second']:,} (out)")
    t.add_row("claims import", f"{result['import']['seconds']:,}", f"{result['import']['events_per_second']:,}",
              f"{result['import']['peak_rss_mb']:,}", f"{ref['in_rows_per_second']:,} (in)")
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".claims" / "bench")
    parser.add_argument("--events", type=int, default=1_000_000, help="events the log must hold (made if missing)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = measure(args.home, args.events)
    console.print(table(result))
    if not result["same_head"]:
        console.print("[red]the restored store's head differs from the source's[/]")
    out = args.json or RESULTS / f"backup-{args.events}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(f"written: {out}")
    return 0 if result["same_head"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
