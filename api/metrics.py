"""Prometheus metrics: requests by route and status, their latency, and the projections' lag."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

router = APIRouter(tags=["health"])


class Metrics:
    """One registry per app, so that apps made by tests do not share counters.

    Under `claims serve --workers N` (``PROMETHEUS_MULTIPROC_DIR`` set before the processes
    start) every process writes its counters to files there and ``exposed`` adds up all of
    them: a scrape answered by any one process counts the requests of all.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "claims_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "claims_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry,
        )
        self.group_commit_size = Histogram(
            "claims_group_commit_size", "Claims saved per group-commit transaction (POST /v1/claims)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=self.registry,
        )
        self.services: Any = None
        self.exposed = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            self.exposed = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.exposed)
        self.exposed.register(_ProjectionCollector(self))  # read from the database: the same in every process


class _ProjectionCollector:
    """The log's head and each projection's position and lag, read when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        services = self.metrics.services
        if services is None:
            return
        from projections.runner import status

        try:
            rows = status(services.app, services.views)
        except Exception:  # noqa: BLE001  (a scrape during an outage shows no projection figures)
            return
        head = GaugeMetricFamily("claims_log_head_position", "Position of the last event in the log")
        head.add_metric([], rows[0]["head"] if rows else 0)
        position = GaugeMetricFamily("claims_projection_position", "Last event a projection processed", labels=["name"])
        lag = GaugeMetricFamily("claims_projection_lag_events", "Events a projection has yet to process", labels=["name"])
        lag_s = GaugeMetricFamily("claims_projection_lag_seconds", "Age of its oldest unprocessed event", labels=["name"])
        for row in rows:
            position.add_metric([row["name"]], row["position"])
            lag.add_metric([row["name"]], row["lag"])
            lag_s.add_metric([row["name"]], row["lag_seconds"] or 0.0)
        yield from (head, position, lag, lag_s)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (not its path: ids would explode)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        counted = False

        def count() -> None:
            nonlocal counted
            if not counted:
                counted = True
                route = getattr(scope.get("route"), "path", "unmatched")
                self.metrics.requests.labels(scope["method"], route, str(status)).inc()
                self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Counted before the answer's last part leaves: a process killed right after a
                # client had its answer must not have lost the count (it may count one the
                # client never got, which the client then retries).
                count()
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            count()  # an answer never finished (an error, a client gone) is counted too


@router.get("/metrics", include_in_schema=True, response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    registry = request.app.state.metrics.exposed
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
