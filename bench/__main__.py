"""The benchmark suite: every figure of docs/performance.md in one command (`make bench`).

    python -m bench [--events 1000000] [--home DIR] [--runs 3] [--seconds 10] [--parts ingest,batch,rebuild,queries,pages,pages-log,backup]
    python -m bench --smoke            # a tiny size of everything, to keep the suite working (CI)

Each part runs as its own process (its memory and CPU measured alone), writes its JSON into
``bench/results/`` and prints its tables; then one table puts every figure beside its
reference and its target, and ``bench/results/bench-<events>.json`` collects them all.

- ingest: POST /v1/claims over HTTP, 32 and 128 clients, against the framework ceiling and
  the naive path; projection lag under a paced load (bench/ingest.py).
- batch: POST /v1/claims/batch against a raw COPY of the same rows (bench/batch.py).
- rebuild: all projections from a log of ``--events`` events, generated on first use and
  reused after; peak RSS (bench/rebuild.py).
- queries: read latencies p50/p99 on that log, and a sequential scan of the event table
  (bench/queries.py).
- pages: the desk's web pages, p50/p99 each, on the example data (bench/pages.py).
- pages-log: the same pages on the rebuild part's log, views built (p99 ≤ 150 ms at 1M).
- backup: `claims export` and `claims import` of that log, rate and peak RSS, beside a raw
  COPY of the same rows out and in (bench/backup.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PARTS = ("ingest", "batch", "rebuild", "queries", "pages", "pages-log", "backup")
console = Console(width=max(150, Console().width))


def commands(args: argparse.Namespace) -> dict[str, list[str]]:
    """Each part's command line, writing its JSON to ``RESULTS/<part>-<events>.json``."""
    out = {part: str(RESULTS / f"{part}-{args.events}.json") for part in PARTS}
    home = str(args.home)
    smoke = args.smoke
    return {
        "ingest": ["bench.ingest", "--home", f"{home}-ingest", "--runs", str(args.runs),
                   "--seconds", str(args.seconds), "--warmup", "0.5" if smoke else "2",
                   "--clients", "4" if smoke else "32,128", "--lag-rate", "20" if smoke else "1000",
                   "--json", out["ingest"]],
        "batch": ["bench.batch", "--home", f"{home}-batch", "--runs", str(args.runs),
                  "--claims", "2000" if smoke else "100000", "--size", "1000" if smoke else "10000",
                  "--json", out["batch"]],
        "rebuild": ["bench.rebuild", "--home", home, "--events", str(args.events), "--runs", str(args.runs),
                    "--json", out["rebuild"]],
        "queries": ["bench.queries", "--home", home, "--requests", "10" if smoke else "200", "--json", out["queries"]],
        "pages": ["bench.pages", "--home", f"{home}-pages", "--requests", "10" if smoke else "200",
                  "--json", out["pages"]],
        # 100 rounds, once: at 1M the board over every topic as of a time takes ~1-2 s a request
        # (docs/performance.md), so a round is ~2 s.
        "pages-log": ["bench.pages", "--log-home", home, "--requests", "10" if smoke else "100",
                      "--json", out["pages-log"]],
        "backup": ["bench.backup", "--home", home, "--events", str(args.events), "--json", out["backup"]],
    }


def rows(part: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures of one part as summary rows: figure, value, reference, target, met (None: no target)."""
    if part == "ingest":
        return result.get("targets", [])
    if part == "batch":
        m = result["median"]
        return [{"figure": f"batch ingest: claims/s ({m['batch_size']:,} per request)", "value": m["claims_per_second"],
                 "reference": f"raw COPY {m['raw_copy']['rows_per_second']:,} rows/s", "target": "≥ 25,000",
                 "met": m["met"]},
                {"figure": "batch ingest: share of raw COPY", "value": f"{m['share_of_raw_copy']:.2f}×",
                 "reference": "", "target": "≥ 0.25×", "met": m["share_of_raw_copy"] >= 0.25}]
    if part == "rebuild":
        m, events = result["median"], result["log"]["events"]
        ratio = m.get("ratio_to_decode")
        return [
            {"figure": f"rebuild of all projections: events/s ({events:,} events)", "value": m["events_per_second"],
             "reference": "", "target": "≥ 30,000", "met": m["events_per_second"] >= 30_000},
            {"figure": "rebuild: rate over reading and decoding the log", "value": "–" if ratio is None else f"{ratio}×",
             "reference": f"read and decode {m.get('decode_events_per_second') or 0:,} events/s",
             "target": "≥ 1.0×", "met": None if ratio is None else ratio >= 1.0},
            {"figure": "rebuild: peak RSS MB", "value": m["peak_rss_mb"], "reference": "", "target": "≤ 500",
             "met": m["peak_rss_mb"] <= 500},
        ]
    if part in ("pages", "pages-log"):
        data = "example data" if part == "pages" else f"{result['events']:,} events"
        return [{"figure": f"page {name}: server p99 ms (p50), {data}",
                 "value": f"{s['p99_ms']:g} ({s['p50_ms']:g})",
                 "reference": "", "target": f"≤ {s['target_p99_ms']:g}", "met": s.get("met")}
                for name, s in result["shapes"].items()]
    if part == "queries":
        out = []
        scan = result.get("seq_scan")
        for name, shape in result["shapes"].items():
            target = shape.get("target_p99_ms")
            out.append({"figure": f"GET {name}: p99 ms (p50)", "value": f"{shape['p99_ms']:g} ({shape['p50_ms']:g})",
                        "reference": "", "target": "" if target is None else f"≤ {target:g}", "met": shape.get("met")})
        if scan:
            out.append({"figure": "sequential scan of the event table: events/s", "value": scan.get("events_per_second"),
                        "reference": "", "target": "", "met": None})
        return out
    if part == "backup":
        ref, events = result["raw_copy"], result["events"]
        return [
            {"figure": f"claims export: events/s ({events:,} events)", "value": result["export"]["events_per_second"],
             "reference": f"raw COPY out {ref['out_rows_per_second']:,} rows/s", "target": "", "met": None},
            {"figure": "claims import: events/s", "value": result["import"]["events_per_second"],
             "reference": f"raw COPY in {ref['in_rows_per_second']:,} rows/s", "target": "", "met": None},
            {"figure": "export / import: peak RSS MB",
             "value": f"{result['export']['peak_rss_mb']:g} / {result['import']['peak_rss_mb']:g}",
             "reference": "", "target": "flat in the log's size", "met": None},
            {"figure": "restored head = source head", "value": str(result["same_head"]), "reference": "",
             "target": "True", "met": result["same_head"]},
        ]
    return []


def median_reads(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of the read benchmark as one: per shape, the median of each run's p50, p99 and max."""
    merged = {**runs[-1], "runs": runs, "shapes": {}}
    for name, last in runs[-1]["shapes"].items():
        shape = {**last}
        for figure in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"):
            shape[figure] = statistics.median(r["shapes"][name][figure] for r in runs)
        if last.get("target_p99_ms") is not None:
            shape["met"] = shape["p99_ms"] <= last["target_p99_ms"]
        merged["shapes"][name] = shape
    return merged


def summary(collected: dict[str, Any]) -> Table:
    t = Table(title="Every figure beside its reference and target (medians where runs > 1)")
    for column in ("figure", "value", "reference (same run)", "target", ""):
        t.add_column(column, justify="right" if column == "value" else "left")
    for part, result in collected.items():
        for r in rows(part, result):
            verdict = {True: "[green]met[/]", False: "[red]missed[/]", None: ""}[r["met"]]
            value = r["value"] if isinstance(r["value"], str) else ("–" if r["value"] is None else f"{r['value']:,}")
            t.add_row(f"{part}: {r['figure']}", value, str(r["reference"]), str(r["target"]), verdict)
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the log rebuilt and queried")
    parser.add_argument("--home", type=Path, default=ROOT / ".claims" / "bench",
                        help="the embedded server's home of the large log (ingest and batch use fresh ones beside it)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement; medians are reported")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of each HTTP load")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"which of {', '.join(PARTS)} (default all)")
    parser.add_argument("--smoke", action="store_true", help="a tiny size of everything (2,000 events, 1 run, 1 s)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.events, args.runs, args.seconds = min(args.events, 2_000), 1, 1
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if set(parts) - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(set(parts) - set(PARTS)))}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = commands(args)
    collected: dict[str, Any] = {}
    failed = []
    for part in parts:  # rebuild before queries and pages-log: it makes the log they read
        console.rule(f"[bold]{part}")
        began = time.monotonic()
        # The parts that take --runs measure N times themselves; the reads are run N times here.
        repeats = args.runs if part in ("queries", "pages") else 1
        outs = [Path(lines[part][-1]).with_suffix(f".run{n}.json") if repeats > 1 else Path(lines[part][-1])
                for n in range(1, repeats + 1)]
        codes = [subprocess.run([sys.executable, "-m", *lines[part][:-1], str(out)], cwd=ROOT, check=False).returncode
                 for out in outs]
        if any(codes):
            failed.append(part)
            console.print(f"[red]{part} failed (exit {codes})[/]")
            continue
        results = [json.loads(out.read_text()) for out in outs]
        collected[part] = results[0] if repeats == 1 else median_reads(results)
        console.print(f"{part}: {time.monotonic() - began:,.0f} s")
    console.rule("[bold]summary")
    console.print(summary(collected))
    out = RESULTS / f"bench-{args.events}.json"
    out.write_text(json.dumps({"events": args.events, "runs": args.runs, "parts": collected,
                               "summary": {p: rows(p, r) for p, r in collected.items()}}, indent=2, default=str))
    console.print(f"results: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
