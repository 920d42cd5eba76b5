"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import AppServices

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str
    database: str


@router.get("/readyz", response_model=Readiness, responses={
    503: {"model": Readiness, "description": "the database does not answer: retry after `Retry-After` seconds",
          "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}},
})
def readyz(services: AppServices) -> JSONResponse:
    """The database answers."""
    try:
        services.app.recorder.max_notification_id()  # type: ignore[attr-defined]
    except Exception as e:  # noqa: BLE001  (any failure means not ready)
        return JSONResponse({"status": "unavailable", "database": str(e)}, status_code=503,
                              headers={"Retry-After": "5"})
    return JSONResponse({"status": "ready", "database": "ok"})
