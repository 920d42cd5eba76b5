"""How fast are the reads on a large log? The issue's query targets, measured over HTTP.

    python -m bench.queries --home DIR [--requests N] [--shapes WORD[,WORD]] [--json out.json]
    python -m bench.queries --url http://127.0.0.1:8000 [--database-url postgresql://…] [--token T]

Measures over real HTTP, as a client would see it: one client, one request at a time (latency,
not throughput), keep-alive. With ``--home`` it starts ``claims serve`` on that home (views as
they are, no projection workers) on a free port; with ``--url`` it uses a running server.

1. Draws the parameters from the data, through the API: the topics, the parties (states whose
   affiliates speak, parties others were merged into, a few people and governments), claim ids
   from all over the log, ``as_of`` and ``at`` instants spread over the log's time range, and
   ``q`` words and phrases, German and English, from the generator's vocabulary (bench/synth.py).
2. Warms up, then sends ``--requests`` timed requests per query shape, the shapes interleaved
   (so a disturbance on the machine spreads over all of them), each with parameters drawn at
   random from its pool. A shape that takes longer than ``--budget`` seconds stops early.
3. Prints p50/p99/max per shape beside its target (p99), and writes JSON (default
   bench/results/queries-<events>.json).

It also times the reference the issue asks for, a plain sequential scan of the event table
(``SELECT count(*), sum(length(state))``, median of 3), when it can reach the database
(``--home``, or ``--database-url`` / ``DATABASE_URL`` with ``--url``).

``measure()`` is the same measurement for a caller that holds Services (it starts its own
``claims serve`` on the same database) or knows a server's base URL.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from bench.server import serve_env, served

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
console = Console(width=max(150, Console().width))

# p99 targets of the issue ("speed at scale"), in milliseconds, at 1,000,000 events.
POSITIONS_MS = 20.0  # GET /v1/positions
POSITIONS_TIME_MS = 50.0  # GET /v1/positions with as_of and/or at
CLAIM_HISTORY_MS = 10.0  # GET /v1/claims/{id}/history
CLAIMS_MS = 30.0  # GET /v1/claims, with filters


@dataclass
class Pools:
    """What the requests' parameters are drawn from (all of it read from the data)."""

    topics: list[str]
    parties: list[str]  # states whose affiliates speak, merge survivors, some people and governments
    states: list[str]  # the states among them
    claims: list[str]
    first: datetime  # the log's first and last recorded_at
    last: datetime
    words: list[str]
    events: int

    def instant(self, rng: random.Random) -> str:
        span = (self.last - self.first).total_seconds()
        return (self.first + timedelta(seconds=rng.uniform(0, span))).isoformat().replace("+00:00", "Z")

    def stated_range(self, rng: random.Random) -> tuple[str, str]:
        """A stated_from/stated_to window of 1 to 3 days (stated_at lies up to 10 days before recording)."""
        start = self.first - timedelta(days=10)
        span = (self.last - start).days
        day = (start + timedelta(days=rng.randint(0, max(span - 1, 0)))).date()
        return day.isoformat(), (day + timedelta(days=rng.randint(0, 2))).isoformat()


@dataclass
class Shape:
    """A kind of request: its name, its p99 target, and how to draw one (path and query)."""

    name: str
    target_ms: float | None
    draw: Callable[[random.Random], tuple[str, dict[str, str]]]
    note: str = ""
    samples: list[float] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # the few slowest requests, to look into
    statuses: dict[int, int] = field(default_factory=dict)
    example: str = ""
    stopped_early: bool = False


# -- parameters, from the data -------------------------------------------------------------


def _vocabulary() -> list[str]:
    """q values as a reader would type them: single words and two-word phrases, German and English."""
    from bench.synth import _DE, _EN

    words: list[str] = []
    for vocab in (_DE, _EN):
        singles = [w for w in vocab["nouns"] + vocab["adjectives"] + vocab["verbs"] if " " not in w]
        words += singles
        words += [f"{a} {n}" for a, n in zip(vocab["adjectives"], vocab["nouns"], strict=False)]
    return words


def encode_cursor(seq: int) -> str:
    """A claims-list cursor (projections/claims.py's format), to start a page anywhere in the log."""
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def draw_pools(client: httpx.Client, rng: random.Random, *, claims: int = 500) -> Pools:
    """Read topics, parties, claim ids and the log's time range from the server."""
    topics = [t["id"] for t in _get(client, "/v1/topics")["items"]]
    parties = _get(client, "/v1/parties", timeout=300)["items"]
    by_id = {p["id"]: p for p in parties}

    def ancestors(pid: str) -> Iterator[str]:
        seen = set()
        party = by_id.get(pid)
        while party is not None and party.get("affiliation") and party["affiliation"] not in seen:
            seen.add(party["affiliation"])
            yield party["affiliation"]
            party = by_id.get(party["affiliation"])

    speaking_affiliates: dict[str, int] = {}
    for p in parties:
        if p.get("claims"):
            for anc in ancestors(p["id"]):
                speaking_affiliates[anc] = speaking_affiliates.get(anc, 0) + 1
    states = sorted(p["id"] for p in parties if p["kind"] == "state" and speaking_affiliates.get(p["id"]))
    survivors = sorted({p["merged_into"] for p in parties if p.get("merged_into")})
    others = sorted(p["id"] for p in parties if p["kind"] in ("person", "government") and p.get("claims")
                    and not p.get("merged_into"))
    pool = states + survivors + rng.sample(others, min(len(others), max(len(states) // 2, 5)))
    if not pool:
        raise RuntimeError("no party has claims: load some data first")

    head = max(item["head"] for item in _get(client, "/v1/projections")["items"])
    first = _get(client, "/v1/audit/events", params={"after": 0, "limit": 1})["items"][0]["recorded_at"]
    last = _get(client, "/v1/audit/events", params={"after": max(head - 1, 0), "limit": 1})["items"][0]["recorded_at"]

    ids: list[str] = []
    per_page = 50
    for _ in range(max(1, claims // per_page)):
        params: dict[str, Any] = {"limit": per_page}
        if head > per_page:
            params["cursor"] = encode_cursor(rng.randint(per_page, head + 1))
        ids += [c["id"] for c in _get(client, "/v1/claims", params=params)["items"]]
    ids = sorted(set(ids))
    if not ids:
        raise RuntimeError("no claims: load some data first")
    return Pools(topics=topics, parties=pool, states=states or pool, claims=ids, first=_parse_time(first),
                 last=_parse_time(last), words=_vocabulary(), events=head)


def _get(client: httpx.Client, path: str, **kwargs: Any) -> Any:
    response = client.get(path, **kwargs)
    response.raise_for_status()
    return response.json()


def shapes(pools: Pools, client: httpx.Client, rng: random.Random) -> list[Shape]:
    """The query shapes measured, each with its target."""
    p = pools

    def party(r: random.Random) -> str:
        return r.choice(p.parties)

    def state_or_party(r: random.Random) -> str:
        return r.choice(p.states) if r.random() < 0.5 else party(r)

    def topic(r: random.Random) -> str:
        return r.choice(p.topics)

    def word(r: random.Random) -> str:
        return r.choice(p.words)

    # Second pages: their cursors come from first pages fetched now (untimed).
    second: list[dict[str, str]] = []
    for i in range(20):
        first_params = [{"party": state_or_party(rng)}, {"topic": topic(rng)}, {}][i % 3]
        page = _get(client, "/v1/claims", params=first_params)
        if page.get("next_cursor"):
            second.append({**first_params, "cursor": page["next_cursor"]})
    if not second:  # a tiny log: no filter has a second page of 100; ask for pages of 1
        page = _get(client, "/v1/claims", params={"limit": 1})
        if page.get("next_cursor"):
            second.append({"limit": "1", "cursor": page["next_cursor"]})

    out = [
        Shape("positions ?topic (all parties)", POSITIONS_MS, lambda r: ("/v1/positions", {"topic": topic(r)})),
        Shape("positions ?party (all topics)", POSITIONS_MS,
              lambda r: ("/v1/positions", {"party": state_or_party(r)})),
        Shape("positions ?party&topic", POSITIONS_MS,
              lambda r: ("/v1/positions", {"party": state_or_party(r), "topic": topic(r)})),
        Shape("positions ?topic&as_of", POSITIONS_TIME_MS,
              lambda r: ("/v1/positions", {"topic": topic(r), "as_of": p.instant(r)})),
        Shape("positions ?topic&at", POSITIONS_TIME_MS,
              lambda r: ("/v1/positions", {"topic": topic(r), "at": p.instant(r)})),
        Shape("positions ?topic&as_of&at", POSITIONS_TIME_MS,
              lambda r: ("/v1/positions", {"topic": topic(r), "as_of": p.instant(r), "at": p.instant(r)})),
        Shape("positions ?party&as_of&at", POSITIONS_TIME_MS,
              lambda r: ("/v1/positions", {"party": state_or_party(r), "as_of": p.instant(r), "at": p.instant(r)})),
        Shape("positions (everything)", None, lambda r: ("/v1/positions", {}),
              note="every party on every topic: the whole report, a payload of megabytes; no target"),
        Shape("positions/history", POSITIONS_MS,
              lambda r: ("/v1/positions/history", {"party": state_or_party(r), "topic": topic(r)}),
              note="no target of its own in the issue; held to GET /v1/positions'"),
        Shape("claims/{id}/history", CLAIM_HISTORY_MS, lambda r: (f"/v1/claims/{r.choice(p.claims)}/history", {})),
        Shape("claims ?party", CLAIMS_MS, lambda r: ("/v1/claims", {"party": state_or_party(r)})),
        Shape("claims ?speaker", CLAIMS_MS, lambda r: ("/v1/claims", {"speaker": party(r)})),
        Shape("claims ?topic", CLAIMS_MS, lambda r: ("/v1/claims", {"topic": topic(r)})),
        Shape("claims ?q", CLAIMS_MS, lambda r: ("/v1/claims", {"q": word(r)})),
        Shape("claims ?party&topic&q", CLAIMS_MS,
              lambda r: ("/v1/claims", {"party": state_or_party(r), "topic": topic(r), "q": word(r)})),
        Shape("claims ?topic&status&stated range", CLAIMS_MS,
              lambda r: ("/v1/claims", {"topic": topic(r), "status": r.choice(["active", "retracted", "superseded"]),
                                        **dict(zip(("stated_from", "stated_to"), p.stated_range(r), strict=True))})),
        Shape("claims ?party&stated range", CLAIMS_MS,
              lambda r: ("/v1/claims", {"party": state_or_party(r),
                                        **dict(zip(("stated_from", "stated_to"), p.stated_range(r), strict=True))})),
    ]
    if second:
        out.append(Shape("claims second page (cursor)", CLAIMS_MS, lambda r: ("/v1/claims", r.choice(second))))
    return out


# -- the measurement -----------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least q % of the samples at or below it."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def run_shapes(client: httpx.Client, shapes_: list[Shape], *, requests: int, warmup: int, budget: float,
               rng: random.Random, say: Callable[[str], None] = lambda _: None) -> None:
    """Warm up, then send ``requests`` timed requests per shape, round-robin over the shapes."""
    for shape in shapes_:
        started = time.perf_counter()
        for _ in range(warmup):
            path, params = shape.draw(rng)
            client.get(path, params=params)
            if time.perf_counter() - started > budget / 4:  # a very slow shape: warm enough
                break
    spent = {shape.name: 0.0 for shape in shapes_}
    for i in range(requests):
        for shape in shapes_:
            if spent[shape.name] > budget:
                shape.stopped_early = True
                continue
            path, params = shape.draw(rng)
            started = time.perf_counter()
            response = client.get(path, params=params)
            _ = response.content
            elapsed = time.perf_counter() - started
            spent[shape.name] += elapsed
            shape.samples.append(elapsed * 1000)
            shape.slowest = sorted([*shape.slowest, (round(elapsed * 1000, 1), _relative(response))], reverse=True)[:3]
            shape.statuses[response.status_code] = shape.statuses.get(response.status_code, 0) + 1
            if not shape.example:
                shape.example = _relative(response)
        if (i + 1) % max(1, requests // 10) == 0:
            say(f"  {i + 1}/{requests} rounds")


def _relative(response: httpx.Response) -> str:
    url = response.request.url
    return url.raw_path.decode()


def figures(shape: Shape) -> dict[str, Any]:
    s = shape.samples
    out: dict[str, Any] = {
        "requests": len(s),
        "statuses": {str(k): v for k, v in sorted(shape.statuses.items())},
        "target_p99_ms": shape.target_ms,
        "example": shape.example,
        "stopped_early": shape.stopped_early,
        "slowest": [{"ms": ms, "request": request} for ms, request in shape.slowest],
    }
    if shape.note:
        out["note"] = shape.note
    if s:
        out |= {
            "p50_ms": round(percentile(s, 50), 2),
            "p90_ms": round(percentile(s, 90), 2),
            "p99_ms": round(percentile(s, 99), 2),
            "max_ms": round(max(s), 2),
            "mean_ms": round(statistics.fmean(s), 2),
        }
        out["met"] = None if shape.target_ms is None else out["p99_ms"] <= shape.target_ms
    return out


def measure(
    target: Any,
    *,
    requests: int = 200,
    warmup: int = 10,
    budget: float = 60.0,
    seed: int = 1,
    token: str | None = None,
    database_url: str | None = None,
    only: list[str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Measure every query shape against ``target``: a base URL, or Services (a server is started on them).

    Answers per shape: requests, statuses, p50/p90/p99/max/mean in ms, the target and whether
    it is met; and ``seq_scan``, the event table's sequential scan, when the database is known.
    ``only``: measure just the shapes whose name contains one of these words.
    """
    with contextlib.ExitStack() as stack:
        if isinstance(target, str):
            base_url, services = target, None
        else:
            services = target
            base_url = stack.enter_context(served(serve_env(services.settings, CLAIMS_RUN_PROJECTIONS="false")))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = stack.enter_context(httpx.Client(base_url=base_url, headers=headers, timeout=120))
        rng = random.Random(seed)
        load_before = [round(x, 2) for x in os.getloadavg()]
        say("drawing parameters from the data …")
        pools = draw_pools(client, rng)
        say(f"  {len(pools.topics)} topics, {len(pools.parties)} parties ({len(pools.states)} states whose"
            f" affiliates speak), {len(pools.claims)} claim ids, {len(pools.words)} q words,"
            f" recorded {pools.first:%Y-%m-%d %H:%M} … {pools.last:%Y-%m-%d %H:%M}")
        measured = shapes(pools, client, rng)
        if only:
            measured = [shape for shape in measured if any(word in shape.name for word in only)]
            if not measured:
                raise SystemExit(f"no shape's name contains any of {only}")
        say(f"{len(measured)} shapes × {requests} requests (after {warmup} warm-up each) …")
        run_shapes(client, measured, requests=requests, warmup=warmup, budget=budget, rng=rng, say=say)
        result: dict[str, Any] = {
            "base_url": base_url,
            "events": pools.events,
            "requests_per_shape": requests,
            "warmup_per_shape": warmup,
            "seed": seed,
            "pools": {"topics": len(pools.topics), "parties": len(pools.parties), "states": pools.states,
                      "claims": len(pools.claims), "words": len(pools.words),
                      "recorded_from": pools.first.isoformat(), "recorded_to": pools.last.isoformat()},
            "shapes": {shape.name: figures(shape) for shape in measured},
            "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        }
        if services is not None:
            database_url = services.database.url
            schema = services.settings.db_schema
            table = services.app.recorder.events_table_name
        else:
            schema, table = os.environ.get("CLAIMS_DB_SCHEMA", "public"), "claims_events"
        if database_url:
            say("sequential scan of the event table (median of 3) …")
            result["seq_scan"] = seq_scan(database_url, schema, table)
        return result


def seq_scan(database_url: str, schema: str, table: str, runs: int = 3) -> dict[str, Any]:
    """The issue's reference: ``SELECT count(*), sum(length(state))`` over the whole event table.

    Timed as the server plans it (in parallel, if it does) and in one process alone (no
    parallel workers), the median of ``runs`` each.
    """
    name = sql.Identifier(schema, table)
    query = sql.SQL("SELECT count(*) AS n, sum(length(state)) AS bytes FROM {}").format(name)
    out: dict[str, Any] = {"query": query.as_string(None)}
    with psycopg.connect(database_url, autocommit=True) as conn:
        size = conn.execute("SELECT pg_table_size(%s::regclass)", (f'"{schema}"."{table}"',)).fetchone()[0]
        for label, workers in (("as_planned", None), ("one_process", 0)):
            if workers is not None:
                conn.execute(f"SET max_parallel_workers_per_gather = {workers}")
            plan = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + query).fetchone()[0][0]["Plan"]
            times, n, payload = [], 0, 0
            for _ in range(runs):
                started = time.perf_counter()
                n, payload = conn.execute(query).fetchone()
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            out[label] = {
                "seconds": [round(t, 3) for t in times],
                "median_seconds": round(median, 3),
                "events_per_second": round(n / median) if median else None,
                "table_mb_per_second": round(size / 2**20 / median, 1) if median else None,
                "state_mb_per_second": round(int(payload or 0) / 2**20 / median, 1) if median else None,
                "workers_planned": _workers(plan),
            }
        conn.execute("RESET max_parallel_workers_per_gather")
    # At the top: the scan as the server runs it (what `python -m bench` reports).
    return out | out["as_planned"] | {"events": n, "state_bytes": int(payload or 0), "table_bytes": size}


def _workers(plan: dict[str, Any]) -> int:
    return max([plan.get("Workers Planned", 0), *(_workers(p) for p in plan.get("Plans", []))])


# -- output --------------------------------------------------------------------------------


def table(result: dict[str, Any]) -> Table:
    t = Table(title=f"Reads at {result['events']:,} events: one client, sequential requests (ms)")
    for column in ("shape", "n", "p50", "p99", "max", "target p99", "met", "example"):
        t.add_column(column, justify="right" if column in ("n", "p50", "p99", "max", "target p99") else "left",
                     overflow="fold" if column == "example" else "ellipsis")
    for name, f in result["shapes"].items():
        bad = {k: v for k, v in f["statuses"].items() if k != "200"}
        met = "—" if f.get("met") is None else ("[green]yes[/]" if f["met"] else "[red]no[/]")
        if bad:
            met += f" [red]{bad}[/]"
        t.add_row(
            name, str(f["requests"]) + ("*" if f["stopped_early"] else ""),
            f"{f.get('p50_ms', 0):,.1f}", f"{f.get('p99_ms', 0):,.1f}", f"{f.get('max_ms', 0):,.1f}",
            "—" if f["target_p99_ms"] is None else f"{f['target_p99_ms']:g}", met, f["example"][:70].lstrip("/"),
        )
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queries", description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--home", type=Path, help="serve this CLAIMS_HOME (default .claims/bench)")
    where.add_argument("--url", help="measure a running server instead")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="with --url: the database, for the sequential-scan reference")
    parser.add_argument("--token", default=os.environ.get("CLAIMS_TOKEN"), help="bearer token, if keys exist")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per shape (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per shape first (default 10)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds of requests after which a shape stops early (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shapes", type=lambda v: [w for w in v.split(",") if w],
                        help="only the shapes whose name contains one of these words (comma-separated),"
                             " e.g. 'as_of,at' or '?q'")
    parser.add_argument("--json", type=Path, help="where to write the results (default bench/results/queries-N.json)")
    args = parser.parse_args(argv)

    from bench.rebuild import git_state, machine

    say = console.print
    if args.url:
        result = measure(args.url, requests=args.requests, warmup=args.warmup, budget=args.budget, seed=args.seed,
                         token=args.token, database_url=args.database_url, only=args.shapes, say=say)
    else:
        from adapters.settings import Settings
        from api.bootstrap import bootstrap

        home = args.home or ROOT / ".claims" / "bench"
        services = bootstrap(Settings(home=home, run_projections=False))
        try:
            result = measure(services, requests=args.requests, warmup=args.warmup, budget=args.budget,
                             seed=args.seed, token=args.token, only=args.shapes, say=say)
        finally:
            services.close()
    result |= {"machine": machine(), "git": git_state()}
    console.print(table(result))
    for name, f in result["shapes"].items():
        if f.get("note"):
            console.print(f"  {name}: {f['note']}")
    if any(f["stopped_early"] for f in result["shapes"].values()):
        console.print(f"  * stopped after {args.budget:g} s of requests")
    scan = result.get("seq_scan")
    if scan:
        console.print(f"sequential scan of the event table ({scan['events']:,} events,"
                      f" {scan['table_bytes'] / 2**20:,.0f} MB), median of 3:")
        for label, figures_ in (("as planned", scan["as_planned"]), ("one process", scan["one_process"])):
            console.print(f"  {label} ({figures_['workers_planned']} parallel workers): {figures_['median_seconds']} s,"
                          f" {figures_['events_per_second']:,} events/s, {figures_['table_mb_per_second']:,} MB/s")
    console.print(f"load average: {result['load_average']['before']} before, {result['load_average']['after']} after"
                  f" ({os.cpu_count()} CPUs; other work on the machine shows in the figures)")
    out = args.json or RESULTS / f"queries-{result['events']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    console.print(f"written: {out}")
    missed = [n for n, f in result["shapes"].items() if f.get("met") is False]
    failed = [n for n, f in result["shapes"].items() if set(f["statuses"]) - {"200"}]
    if failed:
        console.print(f"[red]not all answered 200: {', '.join(failed)}[/]")
    if missed:
        console.print(f"[yellow]targets missed: {', '.join(missed)}[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
