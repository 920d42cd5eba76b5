"""Request ids: echoed as X-Request-ID and stored with every event as correlation_id."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.ids import new_id

_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:/+=-]{1,200}$")


class RequestId:
    """Take the client's X-Request-ID (when sane) or make one; echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _ACCEPTABLE.match(given) else str(new_id())  # not uuid4(): a system call each, on the event loop
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)
