"""Cursors of the lists paged by a key (positions, a topic's timeline): opaque to clients, checked when read.

A cursor is the key of the last item of a page (keyset pagination, as GET /v1/claims does it):
items recorded meanwhile never shift a later page. It names its list, so one list's cursor
given to another is refused (422), never misread.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from api.errors import ProblemException


def encode(kind: str, key: list[Any]) -> str:
    text = json.dumps([kind, *key], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(kind: str, cursor: str, arity: int) -> list[Any]:
    """The key a cursor of ``kind`` stands for; 422 naming the field if it is not one this list gave out."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if not isinstance(value, list) or len(value) != arity + 1 or value[0] != kind:
            raise ValueError
        return value[1:]
    except (ValueError, UnicodeDecodeError):
        reason = "not a cursor this list gave out"
        raise ProblemException(422, f"cursor: {reason}", kind="validation",
                               errors=[{"field": "cursor", "reason": reason}]) from None
