"""The HTTP ingest benchmark still runs (4 clients, a second a load; the figures themselves are not asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_ingest_benchmark_runs_at_a_tiny_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.ingest import SERVERS, measure

    for name in [k for k in os.environ if k == "DATABASE_URL" or k.startswith("CLAIMS_")]:
        monkeypatch.delenv(name)  # an embedded server under tmp_path, as in the rebuild benchmark's smoke test
    out = tmp_path / "result.json"
    result = measure(tmp_path / "home", clients=(4,), seconds=1, warmup=0.5, lag_rate=50, lag_clients=4,
                     json_path=out)

    assert json.loads(out.read_text())["servers"].keys() == set(SERVERS)
    for name in SERVERS:
        load = result["servers"][name]["4"]
        assert load["statuses"].get("201", 0) > 0, (name, load)
        assert not load["errors"], (name, load)
        assert load["latency_ms"]["p99"] is not None
    paced = result["lag"]
    assert paced["statuses"].get("201", 0) > 0 and not paced["errors"], paced
    assert paced["lag"]["measured"] > 0, paced["lag"]
    assert {t["figure"] for t in result["targets"]}
