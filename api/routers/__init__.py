"""One router per resource."""

from __future__ import annotations

from fastapi import Response


def written(response: Response, position: int | None, *, location: str | None = None, etag: int | None = None) -> None:
    """Headers every write answers with: where the new thing is, its version, its log position."""
    if position is not None:
        response.headers["X-Event-Position"] = str(position)
    if location is not None:
        response.headers["Location"] = location
    if etag is not None:
        response.headers["ETag"] = f'"{etag}"'
