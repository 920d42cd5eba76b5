"""Dependencies of the routes, as Annotated aliases.

Those that only look at the request are ``async def``: FastAPI runs a plain ``def`` dependency
in its thread pool, a hop that costs more than the work itself on every request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from pydantic import BeforeValidator

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
    return meta_of(request)


def meta_of(request: Request) -> Meta:
    """``get_meta``'s answer, for a route that takes it without the dependency (``record_claim``)."""
    return Meta(
        recorded_at=datetime.now(UTC),
        recorded_by=getattr(request.state, "principal", None) or "local",
        correlation_id=request.state.request_id,
    )


@dataclass(frozen=True)
class IfMatchVersions:
    """What If-Match names: the versions of its strong tags (any of them matches), or ``*``.

    RFC 9110 §13.1.1: If-Match compares strongly, so a weak tag (W/"3") never matches; the
    header is a list, and several If-Match headers are one list (§5.3).
    """

    versions: frozenset[int]
    any: bool = False

    def expected(self, current: Callable[[], int]) -> int:
        """The version to write at: the one the list names if only one, else the current one when listed."""
        if self.any:
            return current()
        if len(self.versions) == 1:
            return next(iter(self.versions))
        now = current()
        return now if now in self.versions else min(self.versions)  # not listed: the write answers 412


_TAG = re.compile(r'\s*(W/)?("(\d{1,18})"|(\d{1,18})|"[^"]*"|\*)\s*')


async def get_if_match(
    request: Request,
    if_match: Annotated[str | None, Header(alias="If-Match", description='the ETag you read, e.g. "3"')] = None,
) -> IfMatchVersions:
    """The versions If-Match names: "3", a list ("2", "3"), several headers, * (bare 3 is read as "3")."""
    values = request.headers.getlist("if-match")  # every If-Match header, where ``if_match`` holds the first
    if not values:
        raise ProblemException(428, 'this write needs If-Match: "<version>" (the ETag you read)', kind="if-match-required")
    strong: set[int] = set()
    weak = 0
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue
            match = _TAG.fullmatch(item)
            if match is None:
                raise ProblemException(
                    428, f'If-Match {value!r} names no version; send the ETag you read, e.g. "3"', kind="if-match-required"
                )
            if match.group(2) == "*":
                return IfMatchVersions(frozenset(), any=True)
            number = match.group(3) or match.group(4)
            if match.group(1):
                weak += 1
            elif number is not None:
                strong.add(int(number))
    if not strong:
        if weak:
            raise ProblemException(
                412, 'If-Match compares strongly: a weak tag (W/"…") never matches; send the ETag you read'
                ' as it was given, in quotes and without W/ (e.g. "1")',
                kind="stale-version",
            )
        raise ProblemException(
            428, f"If-Match {', '.join(values)!r} names no version; send the ETag you read, e.g. \"3\"",
            kind="if-match-required",
        )
    return IfMatchVersions(frozenset(strong))


async def refuse_nul_in_query(request: Request) -> None:
    """422 for a query parameter holding a NUL character (%00): PostgreSQL cannot compare text with it."""
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            field = name.replace("\x00", "\\u0000")
            raise ProblemException(422, f"invalid input: {field}", kind="validation",
                                   errors=[{"field": field, "reason": NUL_REFUSED}])


def _flag(value: Any) -> Any:
    """A boolean query parameter: true or false, nothing else ("yes", "1", "on" are refused, not guessed)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise ValueError("must be true or false")


# A boolean in the query string, as strict as a boolean in a body (which takes JSON true or false only).
Flag = Annotated[bool, BeforeValidator(_flag)]

App = Annotated[ClaimsApplication, Depends(get_app)]
CurrentMeta = Annotated[Meta, Depends(get_meta)]
IfMatch = Annotated[IfMatchVersions, Depends(get_if_match)]
AppServices = Annotated[Services, Depends(get_services)]

# Access, for a router's or a route's `dependencies=[...]` (reader < writer < admin; all open with no key made).
Access = Depends(require())  # reader to read (GET, HEAD), writer to write (POST, PUT, PATCH)
Reader = Depends(require("reader"))
Writer = Depends(require("writer"))
Admin = Depends(require("admin"))
CleanQuery = Depends(refuse_nul_in_query)  # on the whole app (api/app.py)
