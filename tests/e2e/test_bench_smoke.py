"""The rebuild benchmark still runs (a tiny log; the figures themselves are not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_rebuild_benchmark_runs_on_a_tiny_log(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("CLAIMS_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.rebuild", "--events", "2000", "--home", str(tmp_path / "home"),
         "--runs", "1", "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["log"]["events"] >= 2000
    assert result["median"]["events_per_second"] > 0
