"""How fast does a batch of claims go in? (docs/performance.md)

    python -m bench.batch [--home DIR] [--claims 100000] [--size 10000] [--runs 3] [--json out.json]

On a fresh schema of the database under ``--home``: the synthetic world's parties and topics
are registered (bench/synth.py), then ``claims serve`` (projections off: this measures the
write path alone) takes ``--claims`` synthetic claims as NDJSON ``POST /v1/claims/batch``
requests of ``--size`` claims, one after the other from one client. Beside it, the reference:
the database ceiling, a raw binary COPY of the very rows those requests stored into a table
of the same shape and indexes (no hash chain, no application), in transactions of ``--size``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from adapters.settings import Settings
from api.bootstrap import bootstrap
from bench.server import serve_env, served
from bench.synth import ClaimMaker, Generator

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGET = 25_000  # claims/s (the target for batch ingest)
console = Console()


def bodies(claims: int, size: int, *, seed: int, world: Any) -> list[bytes]:
    """NDJSON batch bodies of synthetic claims (parties named by id or alias, as clients do)."""
    maker = ClaimMaker(random.Random(seed), world)
    now = datetime.now(UTC)
    out = []
    for start in range(0, claims, size):
        lines = [orjson.dumps(maker.claim(now)) for _ in range(min(size, claims - start))]
        out.append(b"\n".join(lines))
    return out


def measure(home: Path, *, claims: int = 100_000, size: int = 10_000, database_url: str | None = None,
            seed: int = 1) -> dict[str, Any]:
    """One run on a fresh schema: HTTP batch ingest, then raw COPY of the same rows. Figures as a dict."""
    schema = f"bench_batch_{uuid.uuid4().hex[:8]}"
    settings = Settings(home=home, db_schema=schema, database_url=database_url)
    services = bootstrap(settings)
    try:
        generator = Generator(services.app, 0, seed=seed, say=lambda _: None)
        generator._setup()  # noqa: SLF001  (parties and topics the claims name)
        payloads = bodies(claims, size, seed=seed, world=generator.world)
        head = services.app.recorder.max_notification_id() or 0
        latencies = []
        with served(serve_env(settings, CLAIMS_RUN_PROJECTIONS="false")) as url, httpx.Client(base_url=url,
                                                                                            timeout=300) as client:
            client.post("/v1/claims/batch", content=payloads[0][: payloads[0].index(b"\n")],
                        headers={"content-type": "application/x-ndjson"}).raise_for_status()  # warm-up: one claim
            head = services.app.recorder.max_notification_id() or 0
            began = time.perf_counter()
            for payload in payloads:
                sent = time.perf_counter()
                answer = client.post("/v1/claims/batch", content=payload, headers={"content-type": "application/x-ndjson"})
                answer.raise_for_status()
                latencies.append(time.perf_counter() - sent)
            seconds = time.perf_counter() - began
        url = services.database.url
        assert url is not None
        reference = raw_copy(url, schema, services.app.recorder.events_table_name, after=head, size=size)
    finally:
        with psycopg.connect(services.database.url or "", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        services.close()
    rate = claims / seconds
    return {
        "claims": claims, "batch_size": size, "requests": len(payloads), "seconds": round(seconds, 3),
        "claims_per_second": round(rate), "request_seconds_p50": round(statistics.median(latencies), 3),
        "request_seconds_max": round(max(latencies), 3), "raw_copy": reference,
        "share_of_raw_copy": round(rate / reference["rows_per_second"], 3), "target": TARGET, "met": rate >= TARGET,
    }


def raw_copy(database_url: str, schema: str, table: str, *, after: int, size: int) -> dict[str, Any]:
    """COPY the rows stored after position ``after`` into a fresh table shaped like ``table``; time it."""
    ref = f"{table}_copy_reference"
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(sql.SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id FROM {}.{} "
            "WHERE notification_id > %s ORDER BY notification_id"
        ).format(sql.Identifier(schema), sql.Identifier(table)), (after,)).fetchall()
        conn.execute(sql.SQL("CREATE TABLE {s}.{ref} (LIKE {s}.{t} INCLUDING INDEXES)").format(
            s=sql.Identifier(schema), ref=sql.Identifier(ref), t=sql.Identifier(table)))
        copy = sql.SQL("COPY {}.{} (originator_id, originator_version, topic, state, notification_id) "
                       "FROM STDIN (FORMAT BINARY)").format(sql.Identifier(schema), sql.Identifier(ref))
        began = time.perf_counter()
        for start in range(0, len(rows), size):
            with conn.transaction(), conn.cursor() as curs, curs.copy(copy) as c:
                c.set_types(["uuid", "int8", "text", "bytea", "int8"])
                for row in rows[start:start + size]:
                    c.write_row(row)
        seconds = time.perf_counter() - began
        megabytes = sum(len(r[3]) for r in rows) / 1e6
    return {"rows": len(rows), "seconds": round(seconds, 3), "rows_per_second": round(len(rows) / seconds),
            "mb": round(megabytes, 1)}


def table(runs: list[dict[str, Any]]) -> Table:
    t = Table(title="Batch ingest: POST /v1/claims/batch (NDJSON), one client, sequential requests")
    for column in ("run", "claims", "batch", "claims/s", "request p50 s", "raw COPY rows/s", "share of COPY",
                   f"target {TARGET:,}/s"):
        t.add_column(column, justify="right")
    for n, r in enumerate(runs, 1):
        t.add_row(str(n), f"{r['claims']:,}", f"{r['batch_size']:,}", f"{r['claims_per_second']:,}",
                  f"{r['request_seconds_p50']:.2f}", f"{r['raw_copy']['rows_per_second']:,}",
                  f"{r['share_of_raw_copy']:.0%}", "[green]met[/]" if r["met"] else "[red]missed[/]")
    return t


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r["claims_per_second"])[len(runs) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".claims" / "bench")
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=10_000, help="claims per request (at most 10,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    runs = []
    for n in range(args.runs):
        runs.append(measure(args.home, claims=args.claims, size=args.size, seed=n + 1))
        console.print(f"run {n + 1}: {runs[-1]['claims_per_second']:,} claims/s")
    console.print(table(runs))
    result = {"runs": runs, "median": median_run(runs)}
    out = args.json or RESULTS / f"batch-{args.claims}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
