"""What every page shares: templates, the signed-in key (a cookie), CSRF, read-your-writes, HTML errors.

Access is the API's own check (``api.auth.authorize``) with the token taken from an HttpOnly,
SameSite=Strict cookie instead of the Authorization header: open exactly where the API is open.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from jinja2 import Environment, FileSystemLoader, select_autoescape

from adapters.keys import ApiKey, Role
from api.auth import authorize
from api.errors import ProblemException, validation_errors
from api.pages import cells
from domain.errors import DomainError

HERE = Path(__file__).parent
TOKEN_COOKIE = "claims_token"
CSRF_COOKIE = "claims_csrf"
SEEN_COOKIE = "claims_seen"  # the log position of this browser's last write: reads wait for it
SEEN_SECONDS = 300
MAX_WAIT_SECONDS = 5.0

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)
env.globals.update(stance_badge=cells.stance_badge, status_badge=cells.status_badge, when=cells.when,
                   shown=cells.shown, short=cells.short, stated=cells.stated,
                   quoted=cells.quoted)


class PageError(Exception):
    """A page's own refusal (a missing CSRF token, say): shown as an HTML page with its status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def token_of(request: Request) -> str | None:
    return request.cookies.get(TOKEN_COOKIE) or None


def signed_in(request: Request) -> ApiKey | None:
    """The key this browser signed in with, if it is still a valid one."""
    token = token_of(request)
    return request.app.state.services.keys.authenticate(token) if token else None


def access(request: Request, role: Role) -> None:
    """The API's check (401/403 as ProblemException), on the cookie's token."""
    token = token_of(request)
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token) if token else None
    authorize(request, credentials, role)


def secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure(request),
                        path="/")


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (double submit: a cookie and a hidden field that must match)."""
    token = getattr(request.state, "csrf", None) or request.cookies.get(CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(24)
    request.state.csrf = token
    return token


def check_csrf(request: Request, form: dict[str, str]) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = form.get("csrf", "")
    if not cookie or not hmac.compare_digest(cookie, given):
        raise PageError(403, "this form is out of date or was not sent from this site (CSRF check failed): "
                             "reload the page and send it again")


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form body (the last value of each name)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def wait_for_writes(request: Request, *names: str) -> bool:
    """Read-your-writes: wait (bounded) until the named views have processed this browser's last write.

    Answers False when they have not within MAX_WAIT_SECONDS (the page then says so).
    """
    try:
        seen = int(request.cookies.get(SEEN_COOKIE, "0"))
    except ValueError:
        return True
    if seen <= 0:
        return True
    services = request.app.state.services
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    pending = list(names)
    while pending:
        pending = [n for n in pending if services.view(n).position() < seen]
        if not pending:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A template, with what the layout needs (who is signed in, the CSRF token, the nav)."""
    token = csrf_token(request)
    services = request.app.state.services
    key = signed_in(request)
    html = env.get_template(template).render(
        request=request, csrf=token, user=key, keys_exist=services.keys.any_active(), path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if request.cookies.get(CSRF_COOKIE) != token:
        set_cookie(request, response, CSRF_COOKIE, token)
    return response


def redirect_after_write(request: Request, url: str, position: int | None) -> RedirectResponse:
    """303 to the result; remember the write's position so that the next reads show it."""
    response = RedirectResponse(url, status_code=303)
    if position is not None:
        set_cookie(request, response, SEEN_COOKIE, str(position), max_age=SEEN_SECONDS)
    return response


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/sign-in?next={quote(target, safe='')}"


DATA_SUFFIXES = (".json", ".csv")  # what a program fetches, not a person: its errors stay problem+json


class PageRoute(APIRoute):
    """A page's route: the errors a JSON route answers as problem+json become HTML pages here.

    401 sends the browser to the sign-in form; any other problem is shown with its status and detail.
    Every answer says how long the page took (Server-Timing: page;dur=ms).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            started = time.perf_counter()
            response = await answer(request)
            # The page's own time, for bench/pages.py and the browser's developer tools.
            response.headers["Server-Timing"] = f"page;dur={(time.perf_counter() - started) * 1000:.2f}"
            return response

        async def answer(request: Request) -> Response:
            if request.url.path.endswith(DATA_SUFFIXES):  # a page's data (claims.json, .csv): problem+json
                return await handler(request)
            try:
                return await handler(request)
            except ProblemException as e:
                if e.status == 401:
                    return RedirectResponse(sign_in_url(request), status_code=303)
                return error_page(request, e.status, e.detail, e.extra.get("errors") or [])
            except DomainError as e:
                from api.errors import STATUS

                status = next((s for cls, s, _ in STATUS if isinstance(e, cls)), 422)
                errors = [{"field": e.field, "reason": e.detail}] if e.field else []
                return error_page(request, status, e.detail, errors)
            except RequestValidationError as e:
                errors = validation_errors(list(e.errors()))
                return error_page(request, 422, "invalid input: " + ", ".join(sorted({x["field"] for x in errors})),
                                  errors)
            except PageError as e:
                return error_page(request, e.status, e.detail, [])

        return page_handler


def error_page(request: Request, status: int, detail: str, errors: list[dict[str, Any]]) -> HTMLResponse:
    return render(request, "error.html", status=status, status_code=status, detail=detail, errors=errors,
                  title={403: "Not allowed", 404: "Not found", 409: "Conflict", 412: "Changed meanwhile",
                         422: "Invalid input"}.get(status, "Error"))
