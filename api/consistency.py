"""Read-your-writes: a read sent with X-Min-Position waits until its projections have caught up."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Header, Request

from api.errors import ProblemException

MAX_WAIT_SECONDS = 5.0


def caught_up(*names: str):  # noqa: ANN201  (a FastAPI dependency)
    """A dependency: wait (bounded) until the named projections have processed X-Min-Position."""

    def dependency(
        request: Request,
        min_position: Annotated[int | None, Header(alias="X-Min-Position", ge=0)] = None,
    ) -> None:
        if min_position is None:
            return
        services = request.app.state.services
        deadline = time.monotonic() + MAX_WAIT_SECONDS
        pending = list(names)
        while pending:
            pending = [n for n in pending if services.view(n).position() < min_position]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ProblemException(
                    504,
                    f"projection(s) {', '.join(pending)} have not reached position {min_position} "
                    f"within {MAX_WAIT_SECONDS:g} s; retry later",
                    kind="not-caught-up",
                    pending=pending,
                )
            time.sleep(0.01)

    return Depends(dependency)
