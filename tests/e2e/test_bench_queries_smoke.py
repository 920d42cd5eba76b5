"""The read benchmark still runs end to end on a small log (the figures themselves are not asserted)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from api.loader import Loader, parse, read_records
from tests.conftest import meta

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).parents[2] / "examples" / "miami-talks.ndjson"


def test_read_benchmark_answers_every_query_shape(services: Any) -> None:
    from bench.queries import measure

    loader = Loader(services.app, meta)
    for place, record in read_records(EXAMPLE):
        loader.add(parse(place, record))
    loader.flush()
    assert loader.report.failures == []
    services.run_projections()
    head = services.app.recorder.max_notification_id()
    deadline = time.monotonic() + 30
    while any(view.position() < head for view in services.views.values()):
        assert time.monotonic() < deadline, "the projections did not catch up"
        time.sleep(0.05)

    result = measure(services, requests=2, warmup=1)  # its own `claims serve`, on this test's schema

    assert result["events"] == head
    assert "russia" in result["pools"]["states"]  # a state that speaks only through its affiliates
    assert len(result["shapes"]) >= 14
    for name, figures in result["shapes"].items():
        assert figures["statuses"] == {"200": 2}, (name, figures)
        assert figures["p50_ms"] > 0 and figures["p99_ms"] >= figures["p50_ms"], (name, figures)
        assert "met" in figures
    assert "claims second page (cursor)" in result["shapes"]
    scan = result["seq_scan"]
    assert scan["events"] == head and scan["events_per_second"] > 0
    assert scan["as_planned"]["events_per_second"] > 0 and scan["one_process"]["table_mb_per_second"] > 0
