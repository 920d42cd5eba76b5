"""The projections' state, and rebuilds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import Access, Admin, AppServices
from api.errors import ProblemException
from projections.control import Control
from projections.runner import PROJECTIONS
from projections.runner import status as projection_status

router = APIRouter(prefix="/v1/projections", tags=["projections"], dependencies=[Access])


@router.get("")
def projections(services: AppServices) -> dict[str, Any]:
    """Each projection's position, the log's head, the lag (events and seconds), its state and rebuild progress."""
    return {"items": projection_status(services.app, services.views)}


@router.post("/{name}/rebuild", status_code=status.HTTP_202_ACCEPTED, dependencies=[Admin])
def rebuild(name: str, services: AppServices) -> dict[str, Any]:
    """Rebuild a projection from the first event into new tables; readers keep the old view until the swap."""
    if name not in PROJECTIONS:
        raise ProblemException(404, f"no projection is called {name!r}; there are {', '.join(PROJECTIONS)}")
    Control(services.datastore).request_rebuild(name)
    return {"name": name, "state": "rebuild requested", "status": "/v1/projections"}
