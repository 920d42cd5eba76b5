"""How fast are the desk's pages? p50/p99 per page on the example data, over HTTP.

    python -m bench.pages --home DIR [--requests N] [--json out.json]

Starts ``claims serve`` on a fresh home, loads examples/miami-talks.ndjson with ``claims load``,
waits for the views, warms up, then sends ``--requests`` requests per page (the pages
interleaved, one at a time, keep-alive) and reports each page's p50/p99 beside the issue's
target (p99 ≤ 50 ms on the example data). The figure held to the target is the server's time,
as each page reports it (``Server-Timing: page;dur=…``, from the route's start to its answer,
thread pool wait included); the client's time on loopback is beside it, with GET /healthz as
the reference (what any request costs on the machine at that moment).

    python -m bench.pages --log-home DIR [--requests N]

serves a home that already holds a large log with its views built (the rebuild part's
``--home``: 1,000,000 events) as it is, draws each page's parameters from its data as the
queries part does (topics, parties, claim ids, words, instants), and holds every page to the
issue's target at that size (p99 ≤ 150 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.queries import Pools, Shape, draw_pools, figures
from bench.server import served

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "miami-talks.ndjson"
console = Console(width=max(150, Console().width))
PAGE_MS = 50.0  # p99 target per page on the example data
LOG_PAGE_MS = 150.0  # … and at 1,000,000 events
PESKOV = "0bb01c90-e878-4d61-9a84-aa4b16d42ffb"
JOINT = "32557f03-626c-4d38-bc33-cf02adef0f89"


def page_shapes() -> list[Shape]:
    """Each page a desk opens, with the parameters it is opened with."""

    def fixed(path: str, params: dict[str, str] | None = None) -> Any:
        return lambda _r: (path, params or {})

    def some(*choices: tuple[str, dict[str, str]]) -> Any:
        return lambda r: r.choice(choices)

    return [
        Shape("board /", PAGE_MS, fixed("/")),
        Shape("board ?topic&as_of&at", PAGE_MS, some(("/", {"topic": "miami-talks", "at": "2025-12-22"}),
                                                     ("/", {"as_of": "2030-01-01", "at": "2025-12-21"}),
                                                     ("/", {"kind": "state", "at": "2025-12-23T12:00Z"}))),
        Shape("topic page", PAGE_MS, some(("/topics/miami-talks", {}), ("/topics/security-guarantees", {}),
                                          ("/topics/kyiv-drone-strike", {}))),
        Shape("party page", PAGE_MS, some(("/parties/russia", {}), ("/parties/ukraine", {}),
                                          ("/parties/dmitry-peskov", {}))),
        Shape("claim page", PAGE_MS, some((f"/claims/{PESKOV}", {}), (f"/claims/{JOINT}", {}),
                                          (f"/claims/{JOINT}", {"version": "1"}))),
        Shape("search", PAGE_MS, some(("/claims", {}), ("/claims", {"party": "russia"}),
                                      ("/claims", {"q": "Miami", "status": "active"}),
                                      ("/claims", {"topic": "miami-talks", "stated_from": "2025-12-22"}))),
        Shape("audit (no re-hash)", PAGE_MS, fixed("/audit")),
        Shape("record form", PAGE_MS, fixed("/record")),
        Shape("correct form", PAGE_MS, fixed(f"/claims/{PESKOV}/correct")),
        Shape("suggestions as one types", PAGE_MS, some(("/suggest", {"speaker": "Peskow"}),
                                                        ("/suggest", {"about": "Dmitrijev"}))),
    ]


def log_shapes(pools: Pools) -> list[Shape]:
    """The same pages on a large log, their parameters drawn from its data."""
    p = pools

    def board(r: random.Random) -> tuple[str, dict[str, str]]:
        return r.choice([("/", {"topic": r.choice(p.topics), "at": p.instant(r)}),
                         ("/", {"as_of": p.instant(r), "at": p.instant(r)}),
                         ("/", {"kind": "state", "at": p.instant(r)})])

    def search(r: random.Random) -> tuple[str, dict[str, str]]:
        start, _ = p.stated_range(r)
        return r.choice([("/claims", {}), ("/claims", {"party": r.choice(p.parties)}),
                         ("/claims", {"q": r.choice(p.words), "status": "active"}),
                         ("/claims", {"topic": r.choice(p.topics), "stated_from": start})])

    return [
        Shape("board /", LOG_PAGE_MS, lambda _r: ("/", {})),
        Shape("board ?topic&as_of&at", LOG_PAGE_MS, board),
        Shape("topic page", LOG_PAGE_MS, lambda r: (f"/topics/{r.choice(p.topics)}", {})),
        Shape("party page", LOG_PAGE_MS, lambda r: (f"/parties/{r.choice(p.parties)}", {})),
        Shape("claim page", LOG_PAGE_MS, lambda r: (f"/claims/{r.choice(p.claims)}", {})),
        Shape("search", LOG_PAGE_MS, search),
        Shape("audit (no re-hash)", LOG_PAGE_MS, lambda _r: ("/audit", {})),
        Shape("record form", LOG_PAGE_MS, lambda _r: ("/record", {})),
        Shape("correct form", LOG_PAGE_MS, lambda r: (f"/claims/{r.choice(p.claims)}/correct", {})),
        Shape("suggestions as one types", LOG_PAGE_MS,
              lambda r: ("/suggest", {"speaker": r.choice(p.parties).split("-")[0][:6]})),
    ]


def measure(home: Path, *, requests: int, warmup: int = 5, seed: int = 1) -> dict[str, Any]:
    """Serve a fresh home, load the example, measure every page."""
    if home.exists():
        shutil.rmtree(home)
    env = {"CLAIMS_HOME": str(home)}
    with served(env, timeout=180) as url:
        clean = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("CLAIMS_")}
        subprocess.run([sys.executable, "-m", "api.cli", "load", str(EXAMPLE)], cwd=ROOT, env=clean | env, check=True,
                       capture_output=True, timeout=120)
        with httpx.Client(base_url=url, timeout=30) as client:
            head = max(p["head"] for p in client.get("/v1/projections").json()["items"])
            for path in ("/v1/positions", "/v1/claims", "/v1/parties"):
                client.get(path, headers={"X-Min-Position": str(head)}).raise_for_status()
            result = timed(client, page_shapes(), requests=requests, warmup=warmup, seed=seed)
    return {"data": str(EXAMPLE.relative_to(ROOT)), "events": head, **result}


def measure_log(home: Path, *, requests: int, warmup: int = 5, seed: int = 1) -> dict[str, Any]:
    """Serve ``home`` (a large log, views built) as it is, no projections running; measure every page on it."""
    env = {"CLAIMS_HOME": str(home), "CLAIMS_RUN_PROJECTIONS": "false"}
    with served(env, timeout=300) as url, httpx.Client(base_url=url, timeout=120) as client:
        pools = draw_pools(client, random.Random(seed))
        result = timed(client, log_shapes(pools), requests=requests, warmup=warmup, seed=seed)
    return {"data": str(home), "events": pools.events, **result}


def timed(client: httpx.Client, shapes: list[Shape], *, requests: int, warmup: int, seed: int) -> dict[str, Any]:
    """Each shape's server time (its client time beside), and the reference, GET /healthz."""
    reference = Shape("reference: GET /healthz (client)", None, lambda _r: ("/healthz", {}))
    server = run(client, [*shapes, reference], requests=requests, warmup=warmup, rng=random.Random(seed))
    out: dict[str, Any] = {}
    for shape in shapes:
        figure = figures(Shape(shape.name, shape.target_ms, shape.draw, samples=server[shape.name],
                               statuses=shape.statuses, example=shape.example))
        client_side = figures(shape)
        figure["client_p50_ms"], figure["client_p99_ms"] = client_side["p50_ms"], client_side["p99_ms"]
        out[shape.name] = figure
    return {"requests": requests, "shapes": out, "reference": figures(reference)}


def run(client: httpx.Client, shapes: list[Shape], *, requests: int, warmup: int, rng: random.Random
        ) -> dict[str, list[float]]:
    """Warm up, then ``requests`` rounds over the shapes; the client's times into each shape, the server's answered."""
    server: dict[str, list[float]] = {shape.name: [] for shape in shapes}
    for shape in shapes:
        for _ in range(warmup):
            path, params = shape.draw(rng)
            client.get(path, params=params)
    for i in range(requests):
        for shape in shapes:
            path, params = shape.draw(rng)
            started = time.perf_counter()
            response = client.get(path, params=params)
            _ = response.content
            shape.samples.append((time.perf_counter() - started) * 1000)
            shape.statuses[response.status_code] = shape.statuses.get(response.status_code, 0) + 1
            shape.example = shape.example or str(response.request.url.raw_path.decode())
            timing = re.search(r"page;dur=([\d.]+)", response.headers.get("server-timing", ""))
            if timing:
                server[shape.name].append(float(timing.group(1)))
        if (i + 1) % max(1, requests // 5) == 0:
            console.print(f"  {i + 1}/{requests} rounds")
    return server


def table(result: dict[str, Any]) -> Table:
    t = Table(title=f"pages on {result['data']} ({result['events']:,} events): server time, ms (client beside)")
    for column in ("page", "p50", "p99", "max", "target p99", "", "client p50", "client p99", "statuses"):
        t.add_column(column, justify="left" if column in ("page", "statuses") else "right")
    for name, s in result["shapes"].items():
        verdict = {True: "[green]met[/]", False: "[red]missed[/]", None: ""}[s.get("met")]
        t.add_row(name, f"{s['p50_ms']:g}", f"{s['p99_ms']:g}", f"{s['max_ms']:g}", f"≤ {s['target_p99_ms']:g}",
                  verdict, f"{s['client_p50_ms']:g}", f"{s['client_p99_ms']:g}", json.dumps(s["statuses"]))
    r = result["reference"]
    t.add_row("reference: GET /healthz", "", "", f"{r['max_ms']:g}", "", "", f"{r['p50_ms']:g}", f"{r['p99_ms']:g}",
              json.dumps(r["statuses"]))
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--home", type=Path, help="a home for the embedded server (made anew) for the example data")
    where.add_argument("--log-home", type=Path, help="a home holding a large log with its views built, served as is")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.log_home:
        result = measure_log(args.log_home, requests=args.requests)
    else:
        result = measure(args.home, requests=args.requests)
    console.print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    bad = [name for name, s in result["shapes"].items() if set(s["statuses"]) != {"200"}]
    if bad:
        console.print(f"[red]pages that did not answer 200: {', '.join(bad)}[/]")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
