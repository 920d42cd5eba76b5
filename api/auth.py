"""Who may call: `Authorization: Bearer <token>` names an API key, whose role must be high enough.

With no unrevoked key the server is open (every event records "local"); `claims serve`
refuses to be open on anything but a loopback address (see ``is_loopback``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.keys import KeyStore, Role
from api.errors import ProblemException

bearer = HTTPBearer(
    auto_error=False,
    description="an API key's token, from `claims keys create --name NAME --role reader|writer|admin`",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header's value, or None if it holds none."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(detail: str, error: str | None = None) -> ProblemException:
    challenge = 'Bearer realm="claims"' + (f', error="{error}"' if error else "")
    return ProblemException(401, detail, kind="unauthorized", headers={"WWW-Authenticate": challenge})


def authorize(request: Request, credentials: HTTPAuthorizationCredentials | None, role: Role) -> None:
    """Let the request through if the server is open or its key has ``role`` (or above); else 401/403."""
    keys: KeyStore = request.app.state.services.keys
    if not keys.any_active():
        if not keys.required:
            return
        raise _unauthorized(
            "this server is reachable beyond loopback and has no unrevoked API key; "
            "create one with `claims keys create --name NAME --role admin`"
        )
    # ``credentials``: FastAPI's HTTPBearer parse of the header (the pages pass the cookie's token
    # the same way); stripped as ``bearer_token`` strips it for the Idempotency-Key middleware,
    # so both find the same key.
    token = credentials.credentials.strip() if credentials is not None else ""
    if not token:
        raise _unauthorized("this server needs an API key: send Authorization: Bearer <token>")
    key = keys.authenticate(token)
    if key is None:
        raise _unauthorized("the bearer token is not a valid API key (unknown or revoked)", "invalid_token")
    request.state.principal = key.name
    if not key.allows(role):
        raise ProblemException(
            403, f"this needs role {role}; key {key.name!r} has role {key.role}", kind="forbidden",
            needed_role=role, role=key.role,
        )


def require(role: Role | None = None) -> Callable[..., None]:
    """A dependency needing ``role``; with None, reader to read (GET, HEAD) and writer to write."""

    async def dependency(request: Request, credentials: Credentials) -> None:
        # On the event loop, not in the thread pool: keys are checked against an in-memory
        # snapshot, read again from the database at most once a second (a short query).
        authorize(request, credentials, role or ("reader" if request.method in READ_METHODS else "writer"))

    dependency.__name__ = f"require_{role or 'by_method'}"
    return dependency


def is_loopback(host: str) -> bool:
    """True for "localhost" and loopback addresses (127.0.0.0/8, ::1, ::ffff:127.0.0.1), IPv4 or IPv6."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # another host name: it may resolve to anything, so it is not trusted as loopback
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
