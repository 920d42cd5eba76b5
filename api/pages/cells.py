"""What the desk's pages show, computed from the views: each cell, badge, diff and date, tested in tests/unit.

Templates only loop over what these functions answer; nothing here reads a database.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from api.schemas import when as instants

# A stance is shown by colour AND by a symbol and a word: colour is never the only signal.
STANCES: dict[str, tuple[str, str]] = {
    "positive": ("▲", "positive"),
    "mixed": ("◆", "mixed"),
    "neutral": ("●", "neutral"),
    "negative": ("▼", "negative"),
}
STATUSES = {"active": "active", "retracted": "retracted", "superseded": "superseded"}
# A verdict likewise: symbol and words, the colour (a tone shared by like ratings) only besides them.
RATINGS: dict[str, tuple[str, str, str]] = {  # rating → symbol, words, tone
    "true": ("✓", "true", "good"),
    "mostly-true": ("✓", "mostly true", "good"),
    "mixed": ("◆", "mixed", "mixed"),
    "mostly-false": ("✗", "mostly false", "bad"),
    "false": ("✗", "false", "bad"),
    "misleading": ("⚠", "misleading", "mixed"),
    "unverifiable": ("?", "unverifiable", "open"),
}
KIND_ORDER = ("state", "government", "organization", "person", "media", "other")


@dataclass(frozen=True)
class Badge:
    symbol: str
    label: str
    css: str

    @property
    def text(self) -> str:
        return f"{self.symbol} {self.label}".strip()


def stance_badge(stance: str | None) -> Badge:
    """A stance as symbol, word and CSS class (an unknown one is shown as it is, with no colour)."""
    symbol, label = STANCES.get(stance or "", ("?", stance or "unknown"))
    return Badge(symbol, label, f"stance stance-{label}" if stance in STANCES else "stance")


def status_badge(status: str | None) -> Badge:
    label = STATUSES.get(status or "", status or "unknown")
    symbol = {"active": "", "retracted": "✕", "superseded": "↻"}.get(label, "")
    return Badge(symbol, label, f"status status-{label}")


def rating_badge(rating: str | None) -> Badge:
    """A verdict's rating as symbol, words and CSS class (an unknown one is shown as it is, with no colour)."""
    symbol, label, tone = RATINGS.get(rating or "", ("?", rating or "unknown", ""))
    return Badge(symbol, label, f"rating rating-{tone}" if tone else "rating")


RATING_OPTIONS = [(r, rating_badge(r).label) for r in RATINGS]  # the review form's select, most to least true

# What a claim's page offers, in this order, and what each status leaves of it: only what the
# domain accepts (domain/claim.py: a retracted claim refuses all but a review; a superseded one,
# another supersession).
CLAIM_ACTIONS = (("correct", "Correct"), ("corroborate", "Corroborate"), ("dispute", "Dispute"),
                 ("review", "Review"), ("supersede", "Supersede"), ("retract", "Retract"))
REFUSED_BY_STATUS = {"retracted": {"correct", "corroborate", "dispute", "supersede", "retract"},
                     "superseded": {"supersede"}}


def claim_actions(status: str | None) -> list[tuple[str, str]]:
    """The actions (path segment, button label) a claim's page offers at its current status."""
    refused = REFUSED_BY_STATUS.get(status or "", set())
    return [(action, label) for action, label in CLAIM_ACTIONS if action not in refused]


def when(value: Any) -> str:
    """A recorded instant as the desk reads it: '2025-12-21 18:30 UTC'; a stated_at string as given."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def stated(value: str | None) -> str:
    """A stated_at as the desk reads it: a date as given, a date-time as '2025-12-23 20:00 +02:00'."""
    value = value or ""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?", value)
    if not match:
        return value
    day, clock, zone = match.groups()
    return f"{day} {clock} {'UTC' if zone in (None, 'Z', '+00:00') else zone}"


def quoted(text: str, verbatim: bool) -> str:
    """A verbatim claim's text in quote marks, unless it already opens with one („…“, “…”, «…», "…")."""
    if not verbatim or not text or text[0] in "\"'„“”«»‚‘‹›「『":
        return text
    return f"“{text}”"


def parse_instant(value: str | None, field_name: str) -> datetime | None:
    """A page's as_of / at, read as the API reads them (``api.schemas.when``), blank meaning none.

    One difference, for forms: a date-time without an offset (what a datetime-local input
    sends) is taken as UTC. ValueError names the field when it is neither a date nor a date-time.
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        return instants.parse_instant(value)
    except ValueError as e:
        try:
            parsed = datetime.fromisoformat(value.replace(" ", "T", 1))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ].*", value):
            return parsed.replace(tzinfo=UTC)
        raise ValueError(f"{field_name}: {e}") from None


def short(text: str | None, limit: int = 140) -> str:
    """Text cut at a word boundary near ``limit`` characters, with an ellipsis when cut."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + "…"


# -- the position board ----------------------------------------------------------------


@dataclass
class Cell:
    stance: Badge
    position: str
    claim: str
    speaker: str  # the speaker's name
    through: bool  # the party speaks through another (its member): "through Peskov"
    stated_at: str
    claims: int
    shifted_from: str | None = None  # the stance before the latest change, when that change shifted it

    @property
    def title(self) -> str:
        return f"{self.stance.label}: {self.position}"


@dataclass
class BoardRow:
    party: str
    name: str
    kind: str
    cells: list[Cell | None]


BOARD_ROWS = 40  # parties a page of the board shows (at a million events there are hundreds)


@dataclass
class Board:
    topics: list[dict[str, str]]  # id, title
    rows: list[BoardRow]
    page: int = 1
    pages: int = 1
    first: int = 1  # the first row's place among all the board's parties, from 1
    parties: int = 0  # the parties with a position, on every page

    @property
    def empty(self) -> bool:
        return not self.rows


def _kind(parties: dict[str, dict[str, Any]], pid: str) -> str:
    return (parties.get(pid) or {}).get("kind", "other")


def _rows_and_columns(held: Mapping[str, Iterable[str]], parties: dict[str, dict[str, Any]], *,
                      kind: str | None, topic: str | None) -> tuple[list[str], set[str]]:
    """Every row of the board in order (the parties with a position, of ``kind``: states first, then by name)
    and its columns (the topics they have positions on, ``topic`` alone when given); ``held``: party → topics."""
    rows: list[str] = []
    columns: set[str] = set()
    for pid, topics in held.items():
        if kind and _kind(parties, pid) != kind:
            continue
        mine = {t for t in topics if not topic or t == topic}
        if mine:
            rows.append(pid)
            columns |= mine

    def order(pid: str) -> tuple[int, str, str]:
        k = _kind(parties, pid)
        name = (parties.get(pid) or {}).get("name") or pid
        return (KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER), name.casefold(), pid)

    return sorted(rows, key=order), columns


def held_by_party(positions: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """party → the topics it has a position on, from positions."""
    held: dict[str, list[str]] = {}
    for p in positions:
        held.setdefault(p["party"], []).append(p["topic"])
    return held


def board_parties(held: Mapping[str, Iterable[str]], parties: dict[str, dict[str, Any]], *, kind: str | None = None,
                  topic: str | None = None, page: int = 1) -> list[str]:
    """The parties on ``page`` of the board whose positions are ``held`` (party → topics): those to read in full."""
    rows, _ = _rows_and_columns(held, parties, kind=kind, topic=topic)
    return _on_page(rows, page)


def _on_page(rows: list[str], page: int) -> list[str]:
    return rows[(page - 1) * BOARD_ROWS:page * BOARD_ROWS]


def board(positions: list[dict[str, Any]], parties: dict[str, dict[str, Any]], topics: list[dict[str, Any]],
          *, kind: str | None = None, topic: str | None = None,
          previous: dict[tuple[str, str], str | None] | None = None,
          page: int = 1, held: Mapping[str, Iterable[str]] | None = None) -> Board:
    """Parties × topics: each cell the party's position on the topic (None where it has none).

    ``previous``: (party, topic) → the stance before the latest change; a cell whose stance differs
    from it is marked as a shift.

    Rows are the parties with a position (of ``kind`` when given), states first, then by name,
    ``BOARD_ROWS`` a page (``page`` from 1); columns the topics with a position (only ``topic``
    when given), in title order, the same on every page. ``held`` (party → topics) says which parties
    have a position on which topics, when ``positions`` holds only the page's (``board_parties``).
    """
    held = held_by_party(positions) if held is None else held
    order, columns = _rows_and_columns(held, parties, kind=kind, topic=topic)
    pages = max(1, -(-len(order) // BOARD_ROWS))
    shown = _on_page(order, page)
    names = {pid: (doc.get("name") or pid) for pid, doc in parties.items()}
    on_page = set(shown)
    cells: dict[tuple[str, str], Cell] = {}
    for p in positions:
        if p["party"] not in on_page or p["topic"] not in columns:
            continue
        cells[(p["party"], p["topic"])] = Cell(
            stance=stance_badge(p["stance"]), position=short(p["position"]), claim=str(p["claim"]),
            speaker=names.get(p["speaker"], p["speaker"]), through=p["speaker"] != p["party"],
            stated_at=stated(p["stated_at"]), claims=p["claims"],
        )
        before = (previous or {}).get((p["party"], p["topic"]))
        if before is not None and before != p["stance"]:
            cells[(p["party"], p["topic"])].shifted_from = before
    titles = {t["id"]: t.get("title") or t["id"] for t in topics}
    topic_ids = sorted(columns, key=lambda t: (titles.get(t, t).casefold(), t))
    rows = [
        BoardRow(party=pid, name=names.get(pid, pid), kind=_kind(parties, pid),
                 cells=[cells.get((pid, t)) for t in topic_ids])
        for pid in shown
    ]
    return Board(topics=[{"id": t, "title": titles.get(t, t)} for t in topic_ids], rows=rows, page=page, pages=pages,
                 first=(page - 1) * BOARD_ROWS + 1, parties=len(order))


def histories_by_topic(changes: list[dict[str, Any]], *, latest: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """A party's position changes on every topic (in stated_at order) split per topic, shifts marked per topic.

    A shift is a change of stance from the change before it on the same topic. ``latest``: only
    each topic's latest that many are kept (those before them still mark the first kept one).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        rows = out.setdefault(change["topic"], [])
        previous = rows[-1]["stance"] if rows else None
        rows.append({**change, "previous_stance": previous, "shift": previous is not None and previous != change["stance"]})
    if latest is not None:
        out = {topic: rows[-latest:] for topic, rows in out.items()}
    return out


# -- a claim's verdicts ------------------------------------------------------------------


@dataclass
class Verdict:
    by: str  # the reviewer's party id
    name: str
    rating: Badge
    note: str | None
    sources: list[str]
    version: int
    recorded_at: str


def verdicts(reviews: list[dict[str, Any]], names: dict[str, str] | None = None) -> list[Verdict]:
    """A claim's current verdicts (ClaimOut's ``reviews``, one per reviewer), the latest first."""
    names = names or {}
    items = [Verdict(by=r["by"], name=names.get(r["by"]) or r["by"], rating=rating_badge(r.get("rating")),
                      note=r.get("note") or None, sources=list(r.get("sources") or []),
                      version=int(r.get("version") or 0), recorded_at=when(r.get("recorded_at")))
              for r in reviews]
    return sorted(items, key=lambda v: v.version, reverse=True)


# -- a claim's history, corrections as diffs ---------------------------------------------


@dataclass
class Change:
    field: str
    old: str
    new: str
    diff: list[tuple[str, str]]  # (op, text): op is "same", "del" or "ins"


@dataclass
class HistoryRow:
    version: int
    type: str
    recorded_at: str
    recorded_by: str
    correlation_id: str
    summary: str
    changes: list[Change] = field(default_factory=list)


def shown(value: Any) -> str:
    """A field's value as text: lists joined, dicts as key: value, None as an em dash."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {shown(v)}" for k, v in value.items())
    return str(value)


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """The words removed and added between ``old`` and ``new`` (whitespace kept with each word)."""
    a, b = re.findall(r"\S+\s*", old), re.findall(r"\S+\s*", new)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("ins", "".join(b[j1:j2])))
    return out


def history_rows(events: list[dict[str, Any]], names: dict[str, str] | None = None) -> list[HistoryRow]:
    """A claim's events (as GET …/history shows them), each correction as old → new per field.

    ``names``: party names by id, for who corroborated, disputed or reviewed.
    """
    names = names or {}
    state: dict[str, Any] = {}
    rows = []
    for e in events:
        data = e.get("data") or {}
        row = HistoryRow(version=e["version"], type=e["type"], recorded_at=when(e["recorded_at"]),
                         recorded_by=e.get("recorded_by", ""), correlation_id=e.get("correlation_id", ""), summary="")
        if e["type"] == "ClaimAsserted":
            state = dict(data)
            row.summary = f"asserted: {short(data.get('text'), 80)}"
        elif e["type"] == "ClaimCorrected":
            changes = data.get("changes") or {}
            for name, new in changes.items():
                old_text, new_text = shown(state.get(name)), shown(new)
                row.changes.append(Change(name, old_text, new_text, word_diff(old_text, new_text)))
                state[name] = new
            row.summary = f"corrected {', '.join(changes) or 'nothing'}: {data.get('reason') or ''}".rstrip(": ")
        elif e["type"] == "ClaimCorroborated":
            row.summary = f"corroborated by {names.get(data.get('by'), data.get('by'))}" + (f": {data['note']}" if data.get("note") else "")
        elif e["type"] == "ClaimDisputed":
            row.summary = f"disputed by {names.get(data.get('by'), data.get('by'))}" + (f": {data['note']}" if data.get("note") else "")
        elif e["type"] == "ClaimReviewed":
            row.summary = (f"reviewed by {names.get(data.get('by'), data.get('by'))} as "
                           f"{rating_badge(data.get('rating')).label}") + (f": {data['note']}" if data.get("note") else "")
        elif e["type"] == "ClaimRetracted":
            row.summary = f"retracted: {data.get('reason') or ''}".rstrip(": ")
        elif e["type"] == "ClaimSuperseded":
            row.summary = f"superseded by {data.get('by_claim')}" + (f": {data['reason']}" if data.get("reason") else "")
        else:
            row.summary = e["type"]
        rows.append(row)
    return rows


def status_reason(events: list[dict[str, Any]]) -> str | None:
    """Why a claim is retracted or superseded: the last such event's reason."""
    reason = None
    for e in events:
        if e["type"] in ("ClaimRetracted", "ClaimSuperseded"):
            reason = (e.get("data") or {}).get("reason") or None
    return reason


# -- forms ------------------------------------------------------------------------------


def split_names(value: str | None) -> list[str]:
    """Co-speakers typed as "Umerow, Witkoff" or one per line."""
    return [part.strip() for part in re.split(r"[,\n;]", value or "") if part.strip()]


def parse_facts(value: str | None) -> dict[str, Any]:
    """Facts typed one per line as "name: value"; numbers and true/false become numbers and booleans."""
    facts: dict[str, Any] = {}
    for line in (value or "").splitlines():
        if not line.strip():
            continue
        name, sep, raw = line.partition(":")
        if not sep:
            name, sep, raw = line.partition("=")
        raw = raw.strip()
        parsed: Any = raw
        if re.fullmatch(r"-?\d{1,15}", raw):
            parsed = int(raw)
        elif re.fullmatch(r"-?\d+\.\d+", raw):
            parsed = float(raw)
        elif raw.lower() in ("true", "false"):
            parsed = raw.lower() == "true"
        facts[name.strip()] = parsed
    return facts


def facts_text(facts: dict[str, Any] | None) -> str:
    return "\n".join(f"{k}: {shown(v) if not isinstance(v, bool) else str(v).lower()}" for k, v in (facts or {}).items())


def field_errors(errors: list[dict[str, Any]], *, strip: str = "") -> dict[str, list[str]]:
    """problem+json ``errors`` keyed by the form field they name ("co_speakers[1]" → "co_speakers").

    ``strip`` drops a prefix the form does not show ("changes." of a correction).
    """
    out: dict[str, list[str]] = {}
    for err in errors:
        name = str(err.get("field") or "form")
        if strip and name.startswith(strip):
            name = name[len(strip):]
        reason = str(err.get("reason") or "invalid")
        if nth := re.fullmatch(r"sources\[(\d+)\]", name):  # a review's sources, one URL a line
            reason = f"URL {int(nth.group(1)) + 1}: {reason}"
        name = re.sub(r"\[\d+\]", "", name)
        if name.startswith("facts."):
            name = "facts"
        out.setdefault(name, []).append(reason)
    return out
