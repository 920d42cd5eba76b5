"""Liveness and readiness."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field

from api.deps import AppServices

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str
    database: str
    pool: str | None = None
    projections: dict[str, str] | None = Field(
        default=None, description="the state of each projection worker of this process (none when they run elsewhere)")


READY_WAIT_SECONDS = 1.0  # a pool with no connection free for this long cannot serve a read in time either


@router.get("/readyz", response_model=Readiness, responses={
    503: {"model": Readiness, "description": "the database does not answer, or every connection of the pool is "
          "taken (`pool`: busy): retry after `Retry-After` seconds",
          "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}},
})
def readyz(services: AppServices) -> JSONResponse:
    """The database answers, through a connection of the pool the requests use (free within a second)."""
    pool = services.datastore.pool
    try:
        with pool.connection(timeout=READY_WAIT_SECONDS) as conn:
            conn.execute("SELECT 1")
    except PoolTimeout:
        if not _answers_directly(pool):
            return JSONResponse({"status": "unavailable", "database": "unavailable"}, status_code=503,
                                headers={"Retry-After": "5"})
        stats = pool.get_stats()
        log.warning("not ready: no pooled connection free within %g s (%s)", READY_WAIT_SECONDS, stats)
        return JSONResponse({"status": "unavailable", "database": "ok", "pool": "busy: no connection free within "
                             f"{READY_WAIT_SECONDS:g} s ({stats.get('pool_size', '?')} in use, "
                             f"{stats.get('requests_waiting', 0)} waiting)"}, status_code=503,
                            headers={"Retry-After": "5"})
    except Exception as e:  # noqa: BLE001  (any failure means not ready)
        log.warning("not ready: the database does not answer: %s: %s", type(e).__name__, e)
        return JSONResponse({"status": "unavailable", "database": "unavailable"}, status_code=503,
                            headers={"Retry-After": "5"})
    body: dict[str, Any] = {"status": "ready", "database": "ok", "pool": "ok"}
    if services.runner is not None:
        body["projections"] = {name: worker.state for name, worker in services.runner.workers.items()}
    return JSONResponse(body)


def _answers_directly(pool: Any) -> bool:
    """Whether the database answers a connection of its own: the pool is then busy, not the database down."""
    kwargs = {**{k: v for k, v in pool.kwargs.items() if k != "row_factory"}, "connect_timeout": 2, "autocommit": True}
    try:
        with psycopg.connect(pool.conninfo, **kwargs) as conn:
            conn.execute("SELECT 1")
    except Exception as e:  # noqa: BLE001  (any failure means not ready)
        log.warning("not ready: the database does not answer: %s: %s", type(e).__name__, e)
        return False
    return True
