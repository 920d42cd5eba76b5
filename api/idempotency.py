"""Idempotency-Key on every POST: a retry with the same key and body gets the first answer.

A pure ASGI middleware, inside BodyLimit (so the body it reads is limited) and RequestId
(so its problems carry the request id). It has to see the whole answer, which a route
dependency cannot, and it runs before the auth dependency; so it finds the principal the
way auth does: the bearer token's key name from the KeyStore (its one-second snapshot,
no query), or "local" when the server is open. A request auth will refuse (no key, an
unknown or revoked token) passes through untouched and gets its 401.

For a POST with ``Idempotency-Key`` (1-255 printable ASCII characters, else 422):

- fingerprint = SHA-256 of method, path (and query) and body bytes;
- claim (principal, key) in the ``idempotency`` table; the winner runs the request and
  stores its answer before the last byte of it is sent, if it is below 500 and not a
  401/403 (those depend on the key, not the request); otherwise (5xx, an exception, a
  cancelled request) the claim is released so a retry runs again. 4xx answers (422, 409,
  412 …) are stored and replayed like any other: the retry would get the same one;
- a key already held: another fingerprint → 422; an answer stored → replayed with its
  status, headers (Location, ETag, X-Event-Position …) and body, plus
  ``Idempotent-Replayed: true``; still running (a concurrent duplicate) → wait for it
  (up to ``WAIT_SECONDS``) and replay, else 409.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.idempotency import IdempotencyStore
from adapters.keys import OPEN_PRINCIPAL, KeyStore
from adapters.unavailable import DATABASE_UNAVAILABLE as UNAVAILABLE
from api.auth import bearer_token
from api.errors import problem

log = logging.getLogger(__name__)

HEADER = b"idempotency-key"
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
WAIT_SECONDS = 10.0
POLL_SECONDS = (0.02, 0.05, 0.1, 0.2)  # then the last, until WAIT_SECONDS
NOT_STORED = frozenset({401, 403})  # answers about the caller's key, not the request
REPLAYED = (b"idempotent-replayed", b"true")
RETRY_AFTER_SECONDS = 5
# request.state's name for "principal\nkey\nepoch" of the run: a route may derive what it creates
# from it (POST /v1/claims: the claim's id), so that a run taken over from a process that died
# after its commit (but before its answer was stored) records nothing twice.
STATE = "idempotency_key"


class Idempotency:
    """Answer a retried POST (same Idempotency-Key, same request) with its first answer."""

    def __init__(self, app: ASGIApp, wait_seconds: float | None = None) -> None:
        self.app = app
        self.wait_seconds = WAIT_SECONDS if wait_seconds is None else wait_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        given = [value for name, value in scope["headers"] if name == HEADER]
        if not given:
            await self.app(scope, receive, send)
            return
        key = given[0].decode("latin-1")
        if len(given) > 1 or not KEY_PATTERN.fullmatch(key):
            reason = "send one" if len(given) > 1 else "1-255 printable ASCII characters"
            await _problem(scope, send, 422, f"Idempotency-Key: {reason}", "validation",
                           errors=[{"field": "Idempotency-Key", "reason": reason}])
            return
        services = scope["app"].state.services
        store: IdempotencyStore | None = getattr(services, "idempotency", None)
        if store is None:
            await self.app(scope, receive, send)
            return
        try:
            principal = await run_in_threadpool(_principal, services.keys, scope)
        except UNAVAILABLE as e:
            await _unavailable(scope, send, e)
            return
        if principal is None:  # auth will refuse it (401)
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        # The path as sent (percent-encoded, so ASCII), with its query.
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", "backslashreplace")
        path = raw.decode("ascii", "backslashreplace").replace("\0", "%00")
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("ascii", "backslashreplace").replace("\0", "%00")
        fingerprint = hashlib.sha256(b"\0".join([b"POST", path.encode(), body])).digest()
        await self._handle(scope, receive, send, store, principal, key, path, fingerprint, body)

    async def _handle(  # noqa: PLR0913
        self, scope: Scope, receive: Receive, send: Send, store: IdempotencyStore,
        principal: str, key: str, path: str, fingerprint: bytes, body: bytes,
    ) -> None:
        deadline = time.monotonic() + self.wait_seconds
        polls = 0
        while True:
            try:
                claimed = await run_in_threadpool(store.claim, principal, key, "POST", path, fingerprint)
                stored = None if claimed else await run_in_threadpool(store.get, principal, key)
            except UNAVAILABLE as e:
                await _unavailable(scope, send, e)
                return
            if claimed is not None:
                scope.setdefault("state", {})[STATE] = f"{principal}\n{key}\n{claimed.epoch}"
                await self._run(scope, receive, send, store, principal, key, claimed.owner, body)
                return
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    reason = "used with a different request"
                    await _problem(
                        scope, send, 422,
                        "this Idempotency-Key was used with a different request (method, path or body); "
                        "use a new key for a new request",
                        "idempotency-key-reused", errors=[{"field": "Idempotency-Key", "reason": reason}],
                    )
                    return
                if stored.complete:
                    await _replay(send, stored.status or 200, stored.headers, stored.body)
                    return
            # Still running elsewhere (or released just now: then the next claim wins it).
            if time.monotonic() >= deadline:
                await _problem(
                    scope, send, 409, "a request with this Idempotency-Key is in progress; retry later",
                    "idempotency-key-in-progress", headers={"Retry-After": "1"},
                )
                return
            await anyio.sleep(POLL_SECONDS[min(polls, len(POLL_SECONDS) - 1)])
            polls += 1

    async def _run(  # noqa: PLR0913
        self, scope: Scope, receive: Receive, send: Send, store: IdempotencyStore,
        principal: str, key: str, owner: str, body: bytes,
    ) -> None:
        """Run the request, storing its answer before its last byte goes out (or releasing the claim)."""
        status = 0
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        stored = False
        delivered = False

        async def receive_body() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture(message: Message) -> None:
            nonlocal status, headers, stored
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and status < 500 and status not in NOT_STORED:
                    with anyio.CancelScope(shield=True):
                        try:
                            stored = await run_in_threadpool(
                                store.complete, principal, key, owner, status, headers, b"".join(chunks)
                            )
                        except Exception:  # noqa: BLE001  (the answer still goes out; the claim is released)
                            log.exception("could not store the answer for an Idempotency-Key")
            await send(message)

        try:
            await self.app(scope, receive_body, capture)
        finally:
            if not stored:
                with anyio.CancelScope(shield=True):
                    try:
                        await run_in_threadpool(store.release, principal, key, owner)
                    except Exception:  # noqa: BLE001  (left for the lease to expire)
                        log.exception("could not release an Idempotency-Key claim")


def _principal(keys: KeyStore, scope: Scope) -> str | None:
    """The name auth will record for this request, or None if auth will refuse it."""
    if not keys.any_active():
        return None if keys.required else OPEN_PRINCIPAL
    token = bearer_token(dict(scope["headers"]).get(b"authorization", b"").decode("latin-1"))
    if token is None:
        return None
    key = keys.authenticate(token)
    return None if key is None else key.name


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _replay(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": [*raw, REPLAYED]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _problem(
    scope: Scope, send: Send, status: int, detail: str, kind: str, headers: dict[str, str] | None = None, **extra: Any
) -> None:
    response = problem(Request(scope), status, detail, kind, **extra)
    response.headers.update(headers or {})
    await response(scope, _nothing, send)


async def _unavailable(scope: Scope, send: Send, error: Exception) -> None:
    log.warning("database unavailable for an Idempotency-Key in %s: %s: %s", scope["path"],
                type(error).__name__, str(error).strip())
    await _problem(scope, send, 503, f"the database is unavailable; retry in {RETRY_AFTER_SECONDS} s",
                   "database-unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
