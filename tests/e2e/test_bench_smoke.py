"""`python -m bench --smoke` still runs every part end to end (CI keeps the suite working).

A tiny size of everything: HTTP ingest against its references and the lag run, batch ingest
beside a raw COPY, a rebuild of a 2,000-event log, every read shape and page on it. Benchmarks are not
timed tests: only that each part produced its figures, and that requests succeeded, is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]


def test_every_part_of_the_benchmark_suite_runs_at_smoke_size(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("CLAIMS_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--home", str(tmp_path / "home")],
        env=env, capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((ROOT / "bench" / "results" / "bench-2000.json").read_text())
    parts = result["parts"]
    assert set(parts) == {"ingest", "batch", "rebuild", "queries", "pages", "pages-log", "backup"}

    ingest = parts["ingest"]
    for server in ("ceiling", "naive", "service", "inprocess"):
        load = ingest["servers"][server]["4"]
        assert load["claims_per_second"] > 0 and not load["errors"], (server, load)
    assert ingest["lag"]["lag"]["p99_s"] is not None

    assert parts["batch"]["median"]["claims_per_second"] > 0
    assert parts["batch"]["median"]["raw_copy"]["rows"] >= 2000

    assert parts["rebuild"]["log"]["events"] >= 2000
    assert parts["rebuild"]["median"]["events_per_second"] > 0
    assert parts["rebuild"]["median"]["ratio_to_decode"] > 0  # beside reading and decoding the log, same run

    shapes = parts["queries"]["shapes"]
    assert len(shapes) >= 14
    for name, figures in shapes.items():
        assert set(figures["statuses"]) == {"200"}, (name, figures)
    assert parts["queries"]["seq_scan"]["events_per_second"] > 0

    pages = parts["pages"]["shapes"]
    assert {"board /", "topic page", "party page", "claim page", "search"} <= set(pages)
    for name, figures in pages.items():
        assert set(figures["statuses"]) == {"200"} and figures["p99_ms"] > 0, (name, figures)
    on_log = parts["pages-log"]  # the same pages on the rebuild's log, parameters drawn from it
    assert on_log["events"] >= 2000 and set(on_log["shapes"]) >= {"board /", "topic page", "claim page", "search"}
    for name, figures in on_log["shapes"].items():
        assert set(figures["statuses"]) == {"200"} and figures["p99_ms"] > 0, (name, figures)
    assert parts["backup"]["same_head"] and parts["backup"]["import"]["events_per_second"] > 0
    assert all(row["figure"] for rows in result["summary"].values() for row in rows)
