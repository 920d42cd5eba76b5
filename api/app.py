"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.settings import Settings
from api import errors
from api.bootstrap import Services, bootstrap
from api.consistency import PositionWatch
from api.deps import CleanQuery
from api.idempotency import Idempotency
from api.limits import BodyLimit
from api.long_reads import LongReads
from api.metrics import Metrics, MetricsMiddleware
from api.metrics import router as metrics_router
from api.middleware import RequestId
from api.pages import install as install_pages
from api.routers import audit, claims, health, parties, positions, projections, topics
from api.routers import events, reviews  # issue 13: verdicts, provenance, the change feed

DESCRIPTION = """
Who said what, when, where it was reported, and how each party's position moves.

Every statement is recorded as an immutable event; corrections, retractions and
merges are new events. Errors are RFC 9457 `application/problem+json`.
"""


def worker_app() -> FastAPI:
    """The app of each process of `claims serve --workers N` (uvicorn calls it in every one).

    Its settings come from the environment the supervisor set up: the database's URL, and
    CLAIMS_RUN_PROJECTIONS off (the projections run once, in the supervisor).
    """
    app = create_app(Settings())
    # This process serves only this app, under uvicorn's Server: hooked for its whole life, its
    # shutdown ends the open change feeds first (as `claims serve` does with one process).
    events.feeds_end_on_exit(app).__enter__()
    return app


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The API; it starts its own services (database, application) unless given them."""
    settings = settings or (services.settings if services else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or bootstrap(settings)
        app.state.metrics.services = app.state.services
        if app.state.services.group_commit is not None:
            app.state.services.group_commit.report_to(app.state.metrics.group_commit_size.observe)
        app.state.positions = PositionWatch(app.state.services)
        # This process's workers tell the primary's positions; reads from a standby wait on its own.
        fed = app.state.services.read_datastore is None
        if fed:
            app.state.services.position_listeners.append(app.state.positions.advanced)
        app.state.long_reads = LongReads(app.state.services.datastore.pool)
        if owned and settings.run_projections:
            app.state.services.run_projections()
        try:
            yield
        finally:
            app.state.long_reads.close()
            if fed:
                app.state.services.position_listeners.remove(app.state.positions.advanced)
            events.streams_of_app(app).closing.set()  # open change feeds end
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="claims",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by api/pages/docs.py with Swagger UI's files from our own static files
        redoc_url=None,
        dependencies=[CleanQuery],  # a NUL in the query string: 422 (no text in PostgreSQL can hold it)
    )
    app.state.metrics = Metrics()
    app.state.metrics.services = services
    if services is not None:
        app.state.services = services
    app.add_middleware(Idempotency)  # inside BodyLimit: the body it reads for the fingerprint is limited
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestId)  # a 413 from BodyLimit carries the request id too
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: counts every answer
    errors.install(app)
    for module in (parties, claims, reviews, topics, positions, projections, audit, events, health):
        app.include_router(module.router)
    app.include_router(metrics_router)
    install_pages(app)  # the desk's pages at / (api/pages)
    return app
