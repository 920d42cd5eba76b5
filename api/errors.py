"""Every error as RFC 9457 problem+json, mapped from domain errors in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain import errors as e

log = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of decides.
STATUS: list[tuple[type[e.DomainError], int, str]] = [
    (e.BatchRejected, 422, "batch-rejected"),
    (e.UnknownParty, 422, "unknown-party"),
    (e.NotFound, 404, "not-found"),
    (e.StaleVersion, 412, "stale-version"),
    (e.Conflict, 409, "conflict"),
    (e.InvalidRequest, 422, "invalid-request"),
]
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    500: "Internal server error",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class ProblemException(Exception):
    """Raised by routes for HTTP-level problems (a missing If-Match, say)."""

    def __init__(
        self, status: int, detail: str, *, kind: str | None = None, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.headers = headers or {}
        self.extra = extra


def problem(request: Request, status: int, detail: str | None, kind: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:claims:problem:{kind}" if kind else "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """'changes.speaker' or 'co_speakers[1]' from a pydantic location, without the 'body' prefix."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors, as field + reason."""
    out = []
    for err in errors:
        if err.get("type") == "json_invalid":
            error = (err.get("ctx") or {}).get("error", "")
            out.append({"field": "body", "reason": f"not valid JSON: {error} at character {err['loc'][-1]}"})
            continue
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append({"field": field_of(err.get("loc", ())), "reason": reason})
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(e.DomainError)
    async def domain_error(request: Request, exc: e.DomainError) -> JSONResponse:
        for cls, status, kind in STATUS:
            if isinstance(exc, cls):
                break
        else:
            status, kind = 422, "invalid-request"
        extra: dict[str, Any] = dict(exc.extra)
        if isinstance(exc, e.BatchRejected):
            extra["errors"] = exc.errors
        elif exc.field is not None:
            extra["errors"] = [{"field": exc.field, "reason": exc.detail}]
        return problem(request, status, exc.detail, kind, **extra)

    @app.exception_handler(ProblemException)
    async def problem_exception(request: Request, exc: ProblemException) -> JSONResponse:
        response = problem(request, exc.status, exc.detail, exc.kind, **exc.extra)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(list(exc.errors()))
        fields = ", ".join(sorted({err["field"] for err in errors}))
        return problem(request, 422, f"invalid input: {fields}", "validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(request, exc.status_code, str(exc.detail), getattr(exc, "kind", None))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return problem(request, 500, "an unexpected error; it has been logged", "internal")
