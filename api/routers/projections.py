"""The projections' state, and rebuilds."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from fastapi import APIRouter, status

from api.deps import Access, Admin, AppServices
from api.errors import ProblemException
from projections.control import Control
from projections.runner import PROJECTIONS
from projections.runner import status as projection_status

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/projections", tags=["projections"], dependencies=[Access])


@router.get("")
def projections(services: AppServices) -> dict[str, Any]:
    """Each projection's position, the log's head, the lag (events and seconds), its state and rebuild progress."""
    items = projection_status(services.app, services.views)
    for item in items:
        item["error"] = public_error(item["name"], item["error"])
    return {"items": items}


def public_error(name: str, error: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a client sees of a stopped projection's error: where, a message and an error id, never the detail.

    The detail (exception, database message, traceback with file paths) is in the server log
    under the error id, and in `claims projections status` for the operator.
    """
    if not error:
        return None
    error_id = error.get("error_id") or hashlib.sha256(
        json.dumps(error, sort_keys=True, default=str).encode()).hexdigest()[:12]
    if "error_id" not in error:  # stored before error ids: put its detail in the log under the id shown
        log.warning("projection %s stopped (error id %s): %s", name, error_id, error.get("error"))
    return {
        "position": error.get("position"),
        "event": error.get("event"),
        "error_id": error_id,
        "message": f"the projection could not apply this event; the detail is in the server log (error id {error_id})",
    }


@router.post("/{name}/rebuild", status_code=status.HTTP_202_ACCEPTED, dependencies=[Admin])
def rebuild(name: str, services: AppServices) -> dict[str, Any]:
    """Rebuild a projection from the first event into new tables; readers keep the old view until the swap."""
    if name not in PROJECTIONS:
        raise ProblemException(404, f"no projection is called {name!r}; there are {', '.join(PROJECTIONS)}")
    Control(services.datastore).request_rebuild(name)
    return {"name": name, "state": "rebuild requested", "status": "/v1/projections"}
