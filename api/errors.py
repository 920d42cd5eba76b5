"""Every error as RFC 9457 problem+json, mapped from domain errors in one place."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.recorder import check_pool
from adapters.unavailable import DATABASE_UNAVAILABLE
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


RETRY_AFTER_SECONDS = 5


# What each problem a route may answer means, as the OpenAPI document says it (see ``document_problems``).
PROBLEMS: dict[int, str] = {
    400: "the body could not be read (not UTF-8)",
    401: "no API key, or a token that is no (unrevoked) key",
    403: "the key's role is too low (`needed_role`, `role`)",
    404: "nothing has that id",
    409: "it clashes with the current state (id or alias taken, already retracted or merged) or a concurrent write",
    412: "If-Match names another version than the current one (`current_version`)",
    413: "the body is larger than the server's limit, or a batch holds too many claims",
    422: "invalid input: `errors` names each field and why",
    428: 'the write needs If-Match: "<version>"',
    503: "the database is unavailable: retry after `Retry-After` seconds",
    504: "the projections read have not reached X-Min-Position in time (`pending`): retry",
}
PROBLEM_JSON = "application/problem+json"
WRITES = frozenset({"post", "put", "patch"})


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


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": PROBLEMS[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == 503:
        response["headers"] = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}
    elif status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return response


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Declare on each operation the problems it may answer, as application/problem+json.

    Which ones follows from the operation's shape, so that a new route is documented too:
    every operation may answer 422 (bad parameters or body, or a NUL in the query string;
    FastAPI's own 422, a JSON `detail` list, is replaced: this API answers a problem); every
    /v1 operation 401, 403 (it needs a key) and 503 (the database); one with a path parameter
    404; one with a body 400 and 413, and, as a write, 409; If-Match brings 412 and 428,
    X-Min-Position 504.
    """
    from api.schemas.common import Problem

    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            kinds = {p.get("in") for p in parameters}
            headers = {p.get("name", "").lower() for p in parameters if p.get("in") == "header"}
            body = "requestBody" in operation
            statuses = {422}
            if path.startswith("/v1/"):
                statuses |= {401, 403, 503}
            if "path" in kinds:
                statuses.add(404)
            if body:
                statuses |= {400, 413}
                if method in WRITES:
                    statuses.add(409)
            if "if-match" in headers:
                statuses |= {412, 428}
            if "x-min-position" in headers:
                statuses.add(504)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                if str(status) not in responses or status == 422:
                    responses[str(status)] = _problem_response(status)
    for unused in ("HTTPValidationError", "ValidationError"):  # in that order: the first refers to the second
        if f'"#/components/schemas/{unused}"' not in json.dumps(openapi):
            schemas.pop(unused, None)
    return openapi


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json (and document them)."""
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

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

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable in %s %s: %s: %s", request.method, request.url.path,
                    type(exc).__name__, str(exc).strip())
        services = getattr(request.app.state, "services", None)
        if services is not None:
            await run_in_threadpool(check_pool, services.app.recorder)  # drop broken connections, for the next request
        response = problem(request, 503, f"the database is unavailable; retry in {RETRY_AFTER_SECONDS} s",
                           "database-unavailable")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for cls in DATABASE_UNAVAILABLE:
        app.add_exception_handler(cls, database_unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette answers this outside every middleware, RequestId's too: the header is set here.
        request_id = getattr(request.state, "request_id", None) or "-"
        error_id = uuid.uuid4().hex[:12]
        log.error("unhandled error in %s %s (request id %s, error id %s)", request.method, request.url.path,
                  request_id, error_id, exc_info=exc)
        response = problem(request, 500, f"an unexpected error; it has been logged (error id {error_id})",
                           "internal", error_id=error_id)
        response.headers["X-Request-ID"] = request_id
        return response
