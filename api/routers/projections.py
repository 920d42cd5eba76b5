"""The projections' state, and rebuilds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import AppServices
from api.errors import ProblemException
from projections.runner import PROJECTIONS

router = APIRouter(prefix="/v1/projections", tags=["projections"])


@router.get("")
def projections(services: AppServices) -> dict[str, Any]:
    """Each projection's position, the log's head, the lag (events and seconds), its state and rebuild progress."""
    if services.runner is not None:
        return {"items": services.runner.status()}
    head = services.app.recorder.max_notification_id() or 0
    items = []
    for name, view in services.views.items():
        position = view.position()
        items.append({"name": name, "state": "not run by this process", "position": position, "head": head,
                      "lag": max(head - position, 0), "lag_seconds": None, "error": None, "rebuild": None})
    return {"items": items}


@router.post("/{name}/rebuild", status_code=status.HTTP_202_ACCEPTED)
def rebuild(name: str, services: AppServices) -> dict[str, Any]:
    """Rebuild a projection from the first event into new tables; readers keep the old view until the swap."""
    if name not in PROJECTIONS:
        raise ProblemException(404, f"no projection is called {name!r}; there are {', '.join(PROJECTIONS)}")
    if services.runner is None or name not in services.runner.workers:
        raise ProblemException(409, f"projection {name} is not run by this process (see `claims project`)",
                               kind="not-running-here")
    services.runner.rebuild(name)
    return {"name": name, "state": "rebuild requested"}
