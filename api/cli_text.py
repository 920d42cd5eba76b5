"""Text for an operator's terminal: stored text shown inert, a claim's events one line each."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from rich.markup import escape

# C0 and C1 controls (escape sequences, carriage returns, backspaces …) and the bidirectional
# overrides and isolates, which reorder what a terminal shows.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def safe(text: Any) -> str:
    """``text`` with every control character written as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``)."""
    return _UNSAFE.sub(_escaped, str(text))


def _escaped(match: re.Match[str]) -> str:
    char = match[0]
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def inert(text: Any) -> str:
    """``safe(text)`` for a rich ``print``: its markup (``[bold]``) shown as written, not applied."""
    return escape(safe(text))


def value(v: Any) -> str:
    """One field's value, short and readable: a source by its url, lists joined, nothing as —."""
    if v is None or v == [] or v == {}:
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ", ".join(value(x) for x in v)
    if isinstance(v, dict):
        if "url" in v:
            return value(v["url"])
        return ", ".join(f"{k}={value(x)}" for k, x in v.items())
    return safe(v)


_ASSERTED = ("speaker", "co_speakers", "about", "topic", "kind", "stance", "stated_at", "verbatim", "text", "position")


def summaries(events: list[Any]) -> list[str]:
    """What each event of a claim's history did, in one line: a correction as ``stance: negative → mixed``."""
    state: dict[str, Any] = {}
    lines = []
    for e in events:
        data = dict(e.data)
        if e.type == "ClaimAsserted":
            state = dict(data)
            parts = [f"{k}: {value(data.get(k))}" for k in _ASSERTED if data.get(k) not in (None, [], {})]
        elif e.type == "ClaimCorrected":
            changes = data.get("changes") or {}
            parts = [f"{k}: {value(state.get(k))} → {value(v)}" for k, v in changes.items()]
            parts.append(f"reason: {value(data.get('reason'))}")
            state.update(changes)
        else:
            parts = [f"{k}: {value(v)}" for k, v in data.items() if v not in (None, [], {})]
        lines.append("; ".join(parts))
    return lines


def when(moment: Any) -> str:
    """A recording time, to the second, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
