"""The desk's read pages: board, topic, party, claim, search, audit. Each reads the views and renders a template."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, ValidationError

from adapters import checkpoint
from adapters.audit import AuditLog
from api import paging
from api.errors import ProblemException, validation_errors
from api.pages import cells
from api.pages.chart import history_chart, stance_chart
from api.pages.web import PageRoute, access, render, wait_for_writes
from api.routers.claims import _stated, _upper, claim_from_view, event_out, list_claims  # the list's own bounds
from api.schemas.claims import ClaimOut
from domain.errors import DomainError
from domain.party import SLUG_PATTERN
from projections.claim_links import superseded_by
from projections.claims import stated_key
from projections.facets import facets
from projections.runner import status as projection_status

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Text = Annotated[str | None, Query(max_length=500)]
PARTY_KINDS = ("state", "government", "person", "organization", "media", "other")


def _services(request: Request) -> Any:
    return request.app.state.services


def _names(services: Any) -> dict[str, dict[str, Any]]:
    return {doc["id"]: doc for doc in services.view("parties").list()}


def _url(path: str, **params: str | None) -> str:
    given = urlencode({k: v for k, v in params.items() if v})
    return f"{path}?{given}" if given else path


def _iso(instant: Any) -> str | None:
    return instant.isoformat().replace("+00:00", "Z") if instant is not None else None


def _name(parties: dict[str, dict[str, Any]], pid: str | None) -> str:
    return (parties.get(pid or "") or {}).get("name") or (pid or "")


@router.get("/", response_class=HTMLResponse)
def board_page(request: Request, topic: Text = None, kind: Text = None, as_of: Text = None,
               at: Text = None, page: Text = None) -> HTMLResponse:
    """The position board: parties × topics, as known now, as of a time, or as said by a time; a page of parties."""
    access(request, "reader")
    services = _services(request)
    caught_up = wait_for_writes(request, "positions", "parties", "topics")
    errors: dict[str, list[str]] = {}
    instants = {}
    for name, value in (("as_of", as_of), ("at", at)):
        try:
            instants[name] = cells.parse_instant(value, name)
        except ValueError as e:
            errors[name] = [str(e)]
            instants[name] = None
    if kind and kind not in PARTY_KINDS:
        errors["kind"] = [f"one of {', '.join(PARTY_KINDS)}"]
    parties = _names(services)
    topics = services.view("topics").list()
    if topic and topic not in {t["id"] for t in topics}:
        errors["topic"] = [f"no topic {topic!r}: pick one from the list"]
    number = 1
    if page and not (page.isascii() and page.isdigit() and 1 <= int(page) <= 100_000):
        errors["page"] = ["a page number: 1, 2, …"]
    elif page:
        number = int(page)
    grid = cells.Board(topics=[], rows=[]) if errors else _board(services.view("positions"), parties, topics,
                                                                 topic=topic or None, kind=kind or None,
                                                                 page=number, **instants)
    form = {"topic": topic or "", "kind": kind or "", "as_of": as_of or "", "at": at or ""}
    return render(request, "board.html", status=422 if errors else 200, board=grid, topics=topics, kinds=PARTY_KINDS,
                  form=form, page_url=lambda n: _url("/", **form, page=str(n) if n > 1 else None),
                  errors=errors, caught_up=caught_up,
                  # The instants the board used (a date's end of day), as the API takes them.
                  json_url=_url("/v1/positions", topic=topic, **{k: _iso(v) for k, v in instants.items()}),
                  report_url=_url("/v1/reports/positions", topic=topic, **{k: _iso(v) for k, v in instants.items()}))


def _board(view: Any, parties: dict[str, dict[str, Any]], topics: list[dict[str, Any]], *, topic: str | None,
           kind: str | None, page: int, as_of: Any, at: Any) -> cells.Board:
    """A page of the board. Now, the positions are laid out from their keys and only the page's parties are
    read; as of or at a time, every position is computed (as GET /v1/positions does) and the page picked."""
    if as_of is None and at is None:
        held = view.held(topic=topic)
        shown = cells.board_parties(held, parties, kind=kind, topic=topic, page=page)
        rows = view.positions(topic=topic, parties=shown)
        return cells.board(rows, parties, topics, kind=kind, topic=topic, page=page, held=held,
                           previous=view.priors(topic=topic, parties=shown))
    rows = view.positions(topic=topic, as_of=as_of, at=at)
    shown = cells.board_parties(cells.held_by_party(rows), parties, kind=kind, topic=topic, page=page)
    return cells.board(rows, parties, topics, kind=kind, topic=topic, page=page,
                       previous=view.priors(topic=topic, as_of=as_of, at=at, parties=shown))


TIMELINE_PAGE = 100  # claims a topic page shows: the latest, and earlier ones a page at a time


@router.get("/topics/{topic_id}", response_class=HTMLResponse)
def topic_page(request: Request, topic_id: str, before: Annotated[str | None, Query(max_length=300)] = None,
               ) -> HTMLResponse:
    """A topic: its latest claims (or those ``before`` a place) in stated_at order, each party's stance over them."""
    access(request, "reader")
    services = _services(request)
    caught_up = wait_for_writes(request, "claims", "parties")
    topic = services.app.get_topic(topic_id)
    place = _place(before) if before else None
    parties = _names(services)
    rows = services.view("claims").timeline_before(topic_id, before=place, limit=TIMELINE_PAGE + 1)
    more, rows = len(rows) > TIMELINE_PAGE, rows[-TIMELINE_PAGE:]
    claims = [claim_from_view(doc).model_dump(mode="json") for doc, _ in rows]
    names = {pid: _name(parties, pid) for pid in parties}
    chart = stance_chart(claims, names)
    reasons = {c["id"]: cells.status_reason([event_out(e).model_dump(mode="json")
                                             for e in services.app.claim_history(UUID(c["id"]))])
               for c in claims if c["status"] != "active"}
    earlier = None
    if more:  # the first claim shown is the place the earlier ones end before
        earlier = _url(f"/topics/{topic_id}", before=paging.encode("earlier", [rows[0][1][0].isoformat(), rows[0][1][1]]))
    return render(request, "topic.html", topic=topic, claims=claims, parties=parties, chart=chart, reasons=reasons,
                  caught_up=caught_up, name=lambda pid: _name(parties, pid), earlier=earlier,
                  paged=place is not None, page_size=TIMELINE_PAGE)


def _place(cursor: str) -> tuple[datetime, int]:
    """The place in a timeline an "earlier claims" link names; 422 naming ``before`` if it is not one."""
    try:
        key, seq = paging.decode("earlier", cursor, 2)
        return datetime.fromisoformat(key), int(seq)
    except (TypeError, ValueError, ProblemException):
        reason = "not a link this page gave out"
        raise ProblemException(422, f"before: {reason}", kind="validation",
                               errors=[{"field": "before", "reason": reason}]) from None


HISTORY_PAGE = 10  # a party page shows each topic's latest changes; GET /v1/positions/history has them all


@router.get("/parties/{party_id}", response_class=HTMLResponse)
def party_page(request: Request, party_id: str) -> HTMLResponse:
    """A party: names, affiliations up and down, merges, positions, their history, its claims."""
    access(request, "reader")
    services = _services(request)
    caught_up = wait_for_writes(request, "parties", "positions", "claims")
    parties = _names(services)
    party = parties.get(party_id)
    if party is None:
        services.app.get_party(party_id)  # 404 when there is no such party (else: the view is behind)
        party = services.view("parties").get(party_id) or {"id": party_id, "name": party_id, "aliases": []}
    chain, seen = [], {party_id}
    up = party.get("affiliation")
    while up and up not in seen:
        seen.add(up)
        chain.append(up)
        up = (parties.get(up) or {}).get("affiliation")
    members = sorted((p for p in parties.values() if p.get("affiliation") == party_id), key=lambda p: p["name"])
    merged_in = sorted((p for p in parties.values() if p.get("merged_into") == party_id), key=lambda p: p["name"])
    view = services.view("positions")
    positions = view.positions(party=party_id)
    # Every topic's latest changes in one read, split and marked per topic here.
    latest = view.latest_history(party=party_id, latest=HISTORY_PAGE)
    histories = cells.histories_by_topic(latest, latest=HISTORY_PAGE)
    changes = {row["topic"]: row["changes"] for row in latest}
    titles = {t["id"]: t.get("title") or t["id"] for t in services.view("topics").list()}
    chart = history_chart(histories, titles)
    members_all = _members(parties, party_id)
    claims, more = services.view("claims").list(party_members=members_all, limit=50)
    return render(request, "party.html", party=party, chain=chain, members=members, merged_in=merged_in,
                  positions=positions, histories=histories, claims=[claim_from_view(d) for d in claims],
                  more=more, caught_up=caught_up, name=lambda pid: _name(parties, pid), chart=chart, titles=titles,
                  change_counts=changes, history_page=HISTORY_PAGE)


def _members(parties: dict[str, dict[str, Any]], party_id: str) -> list[str]:
    """The party and every party affiliated with or merged into it through any chain (as the view's members())."""
    found, todo = [party_id], [party_id]
    while todo:
        current = todo.pop()
        for pid, doc in parties.items():
            if (doc.get("affiliation") == current or doc.get("merged_into") == current) and pid not in found:
                found.append(pid)
                todo.append(pid)
    return found


@router.get("/claims/{claim_id}", response_class=HTMLResponse)
def claim_page(
    request: Request, claim_id: UUID,
    version: Annotated[int | None, Query(ge=1)] = None, as_of: Text = None,
) -> HTMLResponse:
    """A claim now, at a version or as of a time, with its whole history (corrections as diffs)."""
    access(request, "reader")
    services = _services(request)
    app = services.app
    caught_up = wait_for_writes(request, "claims", "parties")
    try:
        instant = cells.parse_instant(as_of, "as_of")
    except ValueError as e:
        raise ProblemException(422, str(e), errors=[{"field": "as_of", "reason": str(e)}]) from None
    claim = ClaimOut.of(app.get_claim(claim_id, version=version, as_of=instant)).model_dump(mode="json")
    history = [event_out(e).model_dump(mode="json") for e in app.claim_history(claim_id)]
    current = history[-1]["version"]
    parties = _names(services)
    names = {pid: _name(parties, pid) for pid in parties}
    rows = cells.history_rows(history, names)
    shown_history = [e for e in history if e["version"] <= claim["version"]]
    earlier = superseded_by(services.view("claims"), str(claim_id))
    later = []
    nxt, seen = claim.get("superseded_by"), {str(claim_id)}
    while nxt and nxt not in seen and len(later) < 20:
        seen.add(nxt)
        try:
            doc = ClaimOut.of(app.get_claim(UUID(nxt))).model_dump(mode="json")
        except Exception:  # noqa: BLE001  (a dangling link is shown as an id alone)
            later.append({"id": nxt, "position": nxt, "status": "unknown"})
            break
        later.append(doc)
        nxt = doc.get("superseded_by")
    return render(request, "claim.html", claim=claim, history=rows, current_version=current,
                  reason=cells.status_reason(shown_history), earlier=earlier, later=later,
                  verdicts=cells.verdicts(claim["reviews"], names), actions=cells.claim_actions(claim["status"]),
                  as_of=as_of or "", at_version=version, caught_up=caught_up,
                  name=lambda pid: _name(parties, pid), parties=parties,
                  json_url=f"/v1/claims/{claim_id}" + (f"?version={claim['version']}" if version or as_of else ""))


class SearchParams(BaseModel):
    """GET /v1/claims's filters, as the search page takes them (the same constraints)."""

    speaker: str | None = Field(default=None, max_length=300)
    party: str | None = Field(default=None, max_length=300)
    about: str | None = Field(default=None, max_length=300)
    topic: str | None = Field(default=None, pattern=SLUG_PATTERN)
    status: Literal["active", "retracted", "superseded"] | None = None
    kind: Literal["statement", "denial", "report", "assessment"] | None = None
    q: str | None = Field(default=None, max_length=500)
    stated_from: str | None = None
    stated_to: str | None = None
    limit: int = Field(default=25, ge=1, le=1000)
    cursor: str | None = Field(default=None, max_length=200)


SEARCH_FIELDS = tuple(SearchParams.model_fields)


def _search(
    request: Request, *, with_facets: bool = True,
) -> tuple[dict[str, str], dict[str, list[str]], Any, dict[str, Any] | None]:
    """The filters given, their errors, the page of claims and the facets (None where the filters are bad)."""
    given = {k: v for k, v in request.query_params.items() if k in SEARCH_FIELDS and v.strip()}
    try:
        params = SearchParams.model_validate(given)
    except ValidationError as e:
        return given, cells.field_errors(validation_errors(list(e.errors()))), None, None
    services = _services(request)
    app = services.app
    try:
        page = list_claims(app=app, services=services, **params.model_dump())
    except ProblemException as e:
        return given, cells.field_errors(e.extra.get("errors") or [{"field": "form", "reason": e.detail}]), None, None
    except DomainError as e:
        return given, {e.field or "form": [e.detail]}, None, None
    if not with_facets:
        return given, {}, page, None
    members = services.view("parties").members(app.resolve_party(params.party).slug) if params.party else None
    counted = facets(
        services.view("claims"),
        speaker=app.resolve_party(params.speaker).slug if params.speaker else None, party_members=members,
        about=app.resolve_party(params.about).slug if params.about else None,
        topic=params.topic, status=params.status, kind=params.kind, q=params.q,
        stated_from=stated_key(_stated(params.stated_from, "stated_from")) if params.stated_from else None,
        stated_to=_upper(_stated(params.stated_to, "stated_to")) if params.stated_to else None,
    )
    return given, {}, page, counted


@router.get("/claims", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    """The claims list with every filter of GET /v1/claims, facets with counts, cursor paging, JSON/CSV links."""
    access(request, "reader")
    caught_up = wait_for_writes(request, "claims", "parties")
    given, errors, page, counted = _search(request)
    parties = _names(_services(request))
    filters = {k: v for k, v in given.items() if k != "cursor"}

    def with_(**change: str | None) -> str:
        merged = {**filters, **change}
        return "/claims?" + urlencode({k: v for k, v in merged.items() if v})

    query = urlencode(filters)
    return render(request, "search.html", status=422 if errors else 200, form=given, errors=errors, page=page,
                  facets=counted, with_=with_, name=lambda pid: _name(parties, pid), caught_up=caught_up,
                  next_url=with_(cursor=page.next_cursor) if page and page.next_cursor else None,
                  first_url=with_() if given.get("cursor") else None,
                  json_url="/claims.json?" + urlencode(given), api_url="/v1/claims?" + urlencode(given),
                  csv_url="/claims.csv?" + urlencode(given), query=query)


CSV_COLUMNS = ("id", "version", "stated_at", "speaker", "co_speakers", "about", "topic", "kind", "stance", "status",
               "language", "verbatim", "position", "text", "source_url", "outlet", "recorded_at")


def _exported(request: Request) -> Any:
    """The search's page of claims for an export (no facets), or its errors as a 422 problem."""
    access(request, "reader")
    _, errors, page, _ = _search(request, with_facets=False)
    if errors:
        raise ProblemException(422, "invalid input", kind="validation",
                               errors=[{"field": f, "reason": r} for f, rs in errors.items() for r in rs])
    return page


@router.get("/claims.json")
def search_json(request: Request) -> Response:
    """The search page's list as GET /v1/claims answers it (signed in by the page's cookie)."""
    page = _exported(request)
    return Response(page.model_dump_json(), media_type="application/json")


@router.get("/claims.csv")
def search_csv(request: Request) -> Response:
    """The search page's list (this page of it) as CSV."""
    page = _exported(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for c in page.items:
        writer.writerow([c.id, c.version, c.stated_at, c.speaker, " ".join(c.co_speakers), c.about or "", c.topic,
                         c.kind, c.stance, c.status, c.language, c.verbatim, c.position, c.text,
                         c.source.get("url", ""), c.source.get("outlet") or "", c.recorded_at.isoformat()])
    headers = {"Content-Disposition": 'attachment; filename="claims.csv"'}
    if page.next_cursor:
        headers["Link"] = f'</claims.csv?{urlencode({**dict(request.query_params), "cursor": page.next_cursor})}>; rel="next"'
    return PlainTextResponse(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, verify: Annotated[bool, Query()] = False) -> HTMLResponse:
    """The log's head, its verification (on request: it re-hashes every event), checkpoints, projections."""
    access(request, "reader")
    services = _services(request)
    log = AuditLog.of(services.app)
    size, head = log.head()
    result = log.verify() if verify else None
    return render(request, "audit.html", size=size, head=head.hex(), result=result,
                  projections=projection_status(services.app, services.views))


@router.get("/audit/checkpoint.json")
def checkpoint_download(request: Request) -> Response:
    """The signed checkpoint GET /v1/audit/checkpoint answers, as a file to keep."""
    access(request, "reader")
    services = _services(request)
    size, head = AuditLog.of(services.app).head()
    signed = checkpoint.make(checkpoint.signing_key(services.settings), size, head)
    return Response(json.dumps(signed, indent=2) + "\n", media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="checkpoint-{size}.json"'})


@router.get("/suggest", response_class=HTMLResponse)
def suggest(request: Request) -> HTMLResponse:
    """Who a name being typed may be (the resolve endpoint's candidates), as <option>s of a datalist."""
    access(request, "reader")
    typed = next((v for k, v in request.query_params.items() if k not in ("list", "csrf")), "")
    # A list being typed ("Umerow, Witk"): suggest for its last name, each option the whole list completed.
    done, _, name = typed.rpartition(",")
    name = name.strip()
    candidates = _services(request).view("parties").resolve(name[:300], limit=8) if name else []
    return render(request, "suggest.html", candidates=candidates, prefix=f"{done}, " if done else "")
