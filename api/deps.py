"""Dependencies of the routes, as Annotated aliases.

Those that only look at the request are ``async def``: FastAPI runs a plain ``def`` dependency
in its thread pool, a hop that costs more than the work itself on every request.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request

from api.auth import require
from api.bootstrap import Services
from api.errors import ProblemException
from api.schemas.common import NUL_REFUSED
from domain.application import ClaimsApplication
from domain.base import Meta


async def get_services(request: Request) -> Services:
    return request.app.state.services


async def get_app(request: Request) -> ClaimsApplication:
    return request.app.state.services.app


async def get_meta(request: Request) -> Meta:
    """Who is writing, when, in which request: stamped on every event this request records."""
    return Meta(
        recorded_at=datetime.now(UTC),
        recorded_by=getattr(request.state, "principal", None) or "local",
        correlation_id=request.state.request_id,
    )


async def get_if_match(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int:
    """The version an If-Match names: "3", W/"3" or 3."""
    if if_match is None:
        raise ProblemException(428, 'this write needs If-Match: "<version>" (the ETag you read)', kind="if-match-required")
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,18})"?\s*', if_match)
    if match is None:
        raise ProblemException(
            428, f'If-Match {if_match!r} names no version; send the ETag you read, e.g. "3"', kind="if-match-required"
        )
    return int(match.group(1))


async def refuse_nul_in_query(request: Request) -> None:
    """422 for a query parameter holding a NUL character (%00): PostgreSQL cannot compare text with it."""
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            field = name.replace("\x00", "\\u0000")
            raise ProblemException(422, f"invalid input: {field}", kind="validation",
                                   errors=[{"field": field, "reason": NUL_REFUSED}])


App = Annotated[ClaimsApplication, Depends(get_app)]
CurrentMeta = Annotated[Meta, Depends(get_meta)]
IfMatch = Annotated[int, Depends(get_if_match)]
AppServices = Annotated[Services, Depends(get_services)]

# Access, for a router's or a route's `dependencies=[...]` (reader < writer < admin; all open with no key made).
Access = Depends(require())  # reader to read (GET, HEAD), writer to write (POST, PUT, PATCH)
Reader = Depends(require("reader"))
Writer = Depends(require("writer"))
Admin = Depends(require("admin"))
CleanQuery = Depends(refuse_nul_in_query)  # on the whole app (api/app.py)
