"""The desk's forms: sign in and out, record a claim, correct it, and every other write.

Every write goes through the API's own request models (the same validation, the same errors)
and the ClaimsApplication use cases, called from this file only. A refused write shows the
form again with each problem+json error beside the field it names; a done one redirects
(303) to its result and remembers the write's log position so that the next reads show it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from api.errors import STATUS, ProblemException, validation_errors
from api.pages import cells
from api.pages.web import (
    TOKEN_COOKIE,
    PageError,
    PageRoute,
    access,
    check_csrf,
    form_of,
    redirect_after_write,
    render,
    set_cookie,
)
from api.schemas.claims import (
    ClaimIn,
    ClaimOut,
    CorrectionIn,
    CorroborationIn,
    DisputeIn,
    RetractionIn,
    SupersessionIn,
)
from api.schemas.parties import AliasIn, MergeIn, PartyIn
from domain.base import Meta
from domain.errors import DomainError, StaleVersion
from projections.control import Control
from projections.runner import PROJECTIONS

router = APIRouter(route_class=PageRoute, include_in_schema=False)

KINDS = ("statement", "denial", "report", "assessment")
STANCE_OPTIONS = [(s, cells.stance_badge(s).text) for s in ("positive", "negative", "neutral", "mixed")]
PARTY_KINDS = ("state", "government", "person", "organization", "media", "other")


@dataclass
class Field:
    """A form control: its name (the API's field name, dotted for nested ones), label and kind."""

    name: str
    label: str
    kind: str = "text"  # text, textarea, select, checkbox, url, hidden
    required: bool = False
    hint: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    suggest: bool = False  # offer the resolve endpoint's candidates as the user types

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")


CLAIM_FIELDS = [
    Field("speaker", "Speaker", required=True, suggest=True, hint="a party's id or any of its names, e.g. Peskow"),
    Field("co_speakers", "Co-speakers", hint="a joint statement's other signers, separated by commas"),
    Field("about", "About", suggest=True, hint="the party the claim is about (optional)"),
    Field("topic", "Topic", required=True, hint="a topic id, e.g. miami-talks; a new one is defined"),
    Field("kind", "Kind", kind="select", options=[(k, k) for k in KINDS]),
    Field("text", "Text", kind="textarea", required=True),
    Field("language", "Language", required=True, hint="BCP 47, e.g. de or en"),
    Field("verbatim", "Verbatim: a direct quote", kind="checkbox"),
    Field("stance", "Stance", kind="select", required=True, options=STANCE_OPTIONS),
    Field("position", "Position", hint="a short summary (defaults to the text)"),
    Field("stated_at", "Stated at", required=True, hint="a date (2025-12-21) or a date-time with offset"),
    Field("source.url", "Source URL", kind="url", required=True),
    Field("source.outlet", "Outlet"),
    Field("source.title", "Source title"),
    Field("source.published_at", "Published at", hint="a date-time, e.g. 2025-12-21T22:40:00+01:00"),
    Field("source.language", "Source language"),
    Field("facts", "Facts", kind="textarea", hint="one per line, as name: value (e.g. injured: 5)"),
]
SOURCE_FIELDS = [Field("source.url", "Source URL", kind="url"), Field("source.outlet", "Outlet")]


def _meta(request: Request) -> Meta:
    return Meta(recorded_at=datetime.now(UTC), recorded_by=getattr(request.state, "principal", None) or "local",
                correlation_id=request.state.request_id)


def _services(request: Request) -> Any:
    return request.app.state.services


def _source(form: dict[str, str], names: tuple[str, ...] = ("url", "outlet", "title", "published_at", "language")
            ) -> dict[str, str] | None:
    source = {n: form[f"source.{n}"].strip() for n in names if form.get(f"source.{n}", "").strip()}
    return source or None


def _picked(form: dict[str, str], name: str) -> str:
    """A field's value, or the candidate picked for it after an unknown or ambiguous name."""
    return (form.get(f"pick.{name}") or form.get(name) or "").strip()


def claim_body(form: dict[str, str]) -> dict[str, Any]:
    """A ClaimIn body from the record (or correct) form."""
    co = cells.split_names(form.get("co_speakers"))
    if form.get("pick.co_speakers") and form.get("pick_for.co_speakers") in co:
        co[co.index(form["pick_for.co_speakers"])] = form["pick.co_speakers"]
    return {
        "speaker": _picked(form, "speaker"), "co_speakers": co, "about": _picked(form, "about") or None,
        "topic": form.get("topic", "").strip(), "kind": form.get("kind") or "statement", "text": form.get("text", ""),
        "language": form.get("language", "").strip(), "verbatim": form.get("verbatim") in ("on", "true", "1"),
        "stance": form.get("stance", ""), "position": form.get("position", "").strip() or None,
        "stated_at": form.get("stated_at", "").strip(), "source": _source(form) or {"url": ""},
        "facts": cells.parse_facts(form.get("facts")),
    }


def claim_values(claim: dict[str, Any]) -> dict[str, str]:
    """A claim (as the API shows it) as the form's values."""
    source = claim.get("source") or {}
    values = {k: "" if claim.get(k) is None else str(claim.get(k)) for k in
              ("speaker", "about", "topic", "kind", "text", "language", "stance", "position", "stated_at")}
    values["co_speakers"] = ", ".join(claim.get("co_speakers") or [])
    values["verbatim"] = "on" if claim.get("verbatim") else ""
    values["facts"] = cells.facts_text(claim.get("facts"))
    for n in ("url", "outlet", "title", "published_at", "language"):
        values[f"source.{n}"] = "" if source.get(n) is None else str(source[n])
    return values


@dataclass
class Refusal:
    """Why a write was refused, as the form shows it."""

    status: int
    detail: str
    errors: dict[str, list[str]]
    candidates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)  # field → the name that matched no party (or several)


def refusal(exc: Exception, *, strip: str = "") -> Refusal:
    """A domain error, a validation error or an HTTP problem as the API would answer it, per field."""
    if isinstance(exc, ValidationError):
        errors = validation_errors(list(exc.errors()))
        return Refusal(422, "invalid input: " + ", ".join(sorted({e["field"] for e in errors})),
                       cells.field_errors(errors, strip=strip))
    if isinstance(exc, ProblemException):
        return Refusal(exc.status, exc.detail, cells.field_errors(exc.extra.get("errors") or [], strip=strip))
    assert isinstance(exc, DomainError)
    status = next((s for cls, s, _ in STATUS if isinstance(exc, cls)), 422)
    name = cells.field_errors([{"field": exc.field or "form"}], strip=strip).popitem()[0]
    out = Refusal(status, exc.detail, {name: [exc.detail]})
    if "candidates" in exc.extra:
        out.candidates[name] = list(exc.extra.get("candidates") or [])  # type: ignore[call-overload]
        out.unknown[name] = str(exc.extra.get("name") or "")
    return out


def _form_page(request: Request, *, title: str, action: str, fields: list[Field], values: dict[str, str],
               refused: Refusal | None = None, intro: str = "", hidden: dict[str, str] | None = None,
               status: int | None = None, **extra: Any) -> HTMLResponse:
    topics = [t["id"] for t in _services(request).view("topics").list()]
    if refused is not None:  # an error naming no field of this form is shown above it
        names = {f.name for f in fields}
        for name in [n for n in refused.errors if n not in names and n != "form"]:
            refused.errors.setdefault("form", []).extend(f"{name}: {r}" for r in refused.errors.pop(name))
    return render(request, "form.html", status=status or (refused.status if refused else 200), title=title,
                  action=action, fields=fields, values=values, refused=refused, intro=intro, hidden=hidden or {},
                  topics=topics, **extra)


# -- sign in, sign out ------------------------------------------------------------------


def _next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another host)."""
    return value if value and value.startswith("/") and not value.startswith("//") else "/"


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002
    return render(request, "sign_in.html", next=_next(next), errors={}, detail=None)


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request) -> Response:
    """Take an API key's token once and keep it in an HttpOnly, SameSite=Strict cookie."""
    form = await form_of(request)
    check_csrf(request, form)
    token = form.get("token", "").strip()
    key = _services(request).keys.authenticate(token) if token else None
    if key is None:
        reason = "paste the token `claims keys create` printed" if not token else \
            "not a valid API key (unknown or revoked)"
        return render(request, "sign_in.html", status=401, next=_next(form.get("next")), errors={"token": [reason]},
                      detail="Sign-in refused")
    response = RedirectResponse(_next(form.get("next")), status_code=303)
    set_cookie(request, response, TOKEN_COOKIE, token)
    return response


@router.post("/sign-out", response_model=None)
async def sign_out(request: Request) -> Response:
    form = await form_of(request)
    check_csrf(request, form)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# -- claims -----------------------------------------------------------------------------


@router.get("/record", response_class=HTMLResponse)
def record_form(request: Request) -> HTMLResponse:
    access(request, "reader")
    values = {k: v for k, v in request.query_params.items() if k in {f.name for f in CLAIM_FIELDS}}
    values.setdefault("kind", "statement")
    return _form_page(request, title="Record a claim", action="/record", fields=CLAIM_FIELDS, values=values,
                      intro="Speaker, co-speakers and about may be given by any name a party goes by.")


@router.post("/record", response_model=None)
async def record(request: Request) -> Response:
    form = await form_of(request)
    check_csrf(request, form)
    access(request, "writer")
    app = _services(request).app
    try:
        body = ClaimIn.model_validate(claim_body(form))
        from starlette.concurrency import run_in_threadpool

        saved = await run_in_threadpool(app.record_claim, body.to_domain(), _meta(request))
    except (ValidationError, DomainError, ProblemException) as e:
        return _form_page(request, title="Record a claim", action="/record", fields=CLAIM_FIELDS, values=form,
                          refused=refusal(e))
    return redirect_after_write(request, f"/claims/{saved.value.id}?done=recorded", saved.position)


def _correct_fields() -> list[Field]:
    return [*CLAIM_FIELDS, Field("reason", "Reason for the correction", required=True)]


@router.get("/claims/{claim_id}/correct", response_class=HTMLResponse)
def correct_form(request: Request, claim_id: UUID) -> HTMLResponse:
    access(request, "reader")
    claim = ClaimOut.of(_services(request).app.get_claim(claim_id)).model_dump(mode="json")
    return _form_page(request, title="Correct the claim", action=f"/claims/{claim_id}/correct",
                      fields=_correct_fields(), values=claim_values(claim), hidden={"version": str(claim["version"])},
                      intro=f"Version {claim['version']} as read now. Change what is wrong; the rest stays.",
                      claim=claim)


def correction_changes(form: dict[str, str], original: dict[str, Any]) -> dict[str, Any]:
    """The fields the form changed against the claim as it was at the version read."""
    body = claim_body(form)
    before = claim_body(claim_values(original))
    return {k: v for k, v in body.items() if v != before.get(k)}


@router.post("/claims/{claim_id}/correct", response_model=None)
async def correct(request: Request, claim_id: UUID) -> Response:
    """Correct at the version read; a stale one shows what changed meanwhile, never overwrites it."""
    form = await form_of(request)
    check_csrf(request, form)
    access(request, "writer")
    app = _services(request).app
    from starlette.concurrency import run_in_threadpool

    page = {"title": "Correct the claim", "action": f"/claims/{claim_id}/correct", "fields": _correct_fields()}
    try:
        expected = int(form.get("version", ""))
    except ValueError:
        raise PageError(428, "the form lost the version it was read at: open the correction form again") from None
    original = ClaimOut.of(await run_in_threadpool(app.get_claim, claim_id, version=expected)).model_dump(mode="json")
    changes = correction_changes(form, original)
    if not changes:
        return _form_page(request, **page, values=form, hidden={"version": str(expected)}, claim=original,
                          refused=Refusal(422, "nothing to correct", {"form": ["change at least one field"]}))
    try:
        body = CorrectionIn.model_validate({"changes": changes, "reason": form.get("reason", "")})
        saved = await run_in_threadpool(app.correct_claim, claim_id, expected, body.changes.to_domain(), body.reason,
                                        _meta(request))
    except StaleVersion as e:
        current = ClaimOut.of(await run_in_threadpool(app.get_claim, claim_id)).model_dump(mode="json")
        now = claim_values(current)
        meanwhile = [(f.label, cells.shown(claim_values(original).get(f.name)), cells.shown(now.get(f.name)))
                     for f in CLAIM_FIELDS if claim_values(original).get(f.name) != now.get(f.name)]
        refused = Refusal(412, f"Changed meanwhile: the claim is at version {current['version']} now, not {expected}. "
                               "Nothing was overwritten. Your changes are kept below; check them against the "
                               "current version and send again to apply them to it.", {})
        return _form_page(request, **page, values=form, hidden={"version": str(current["version"])}, claim=current,
                          refused=refused, meanwhile=meanwhile, stale_detail=e.detail)
    except (ValidationError, DomainError, ProblemException) as e:
        return _form_page(request, **page, values=form, hidden={"version": str(expected)}, claim=original,
                          refused=refusal(e, strip="changes."))
    return redirect_after_write(request, f"/claims/{claim_id}?done=corrected", saved.position)


@dataclass
class Action:
    """A follow-up write on a claim or a party: its form, its request model, its use case."""

    title: str
    fields: list[Field]
    model: type[BaseModel]
    body: Callable[[dict[str, str]], dict[str, Any]]
    call: Callable[[Any, Any, Any, Meta], Any]
    done: str
    status: int = 200


def _attest(form: dict[str, str]) -> dict[str, Any]:
    return {"by": _picked(form, "by"), "note": form.get("note") or None, "source": _source(form, ("url", "outlet"))}


CLAIM_ACTIONS: dict[str, Action] = {
    "corroborate": Action(
        "Corroborate the claim",
        [Field("by", "By", required=True, suggest=True, hint="the party backing it up"),
         Field("note", "Note", kind="textarea"), *SOURCE_FIELDS],
        CorroborationIn, _attest,
        lambda app, cid, b, m: app.corroborate_claim(cid, b.by, b.source_dict(), b.note, m), "corroborated"),
    "dispute": Action(
        "Dispute the claim",
        [Field("by", "By", required=True, suggest=True, hint="the party contradicting it"),
         Field("note", "Note", kind="textarea"),
         Field("counter_claim", "Counter-claim", hint="the id of a claim saying otherwise (optional)"), *SOURCE_FIELDS],
        DisputeIn, lambda f: {**_attest(f), "counter_claim": f.get("counter_claim", "").strip() or None},
        lambda app, cid, b, m: app.dispute_claim(cid, b.by, b.source_dict(), b.note, b.counter_claim, m), "disputed"),
    "retract": Action(
        "Retract the claim",
        [Field("reason", "Reason", required=True), *SOURCE_FIELDS],
        RetractionIn, lambda f: {"reason": f.get("reason", ""), "source": _source(f, ("url", "outlet"))},
        lambda app, cid, b, m: app.retract_claim(cid, b.reason, b.source.to_domain() if b.source else None, m),
        "retracted"),
    "supersede": Action(
        "Supersede the claim",
        [Field("by_claim", "Superseded by", required=True, hint="the id of the newer claim"),
         Field("reason", "Reason")],
        SupersessionIn, lambda f: {"by_claim": f.get("by_claim", "").strip(), "reason": f.get("reason") or None},
        lambda app, cid, b, m: app.supersede_claim(cid, b.by_claim, b.reason, m), "superseded"),
}


def _action(actions: dict[str, Action], name: str) -> Action:
    if name not in actions:
        raise PageError(404, f"no such form: {name}")
    return actions[name]


@router.get("/claims/{claim_id}/{action}", response_class=HTMLResponse)
def claim_action_form(request: Request, claim_id: UUID, action: str) -> HTMLResponse:
    access(request, "reader")
    spec = _action(CLAIM_ACTIONS, action)
    claim = ClaimOut.of(_services(request).app.get_claim(claim_id)).model_dump(mode="json")
    return _form_page(request, title=spec.title, action=f"/claims/{claim_id}/{action}", fields=spec.fields,
                      values=dict(request.query_params), claim=claim)


@router.post("/claims/{claim_id}/{action}", response_model=None)
async def claim_action(request: Request, claim_id: UUID, action: str) -> Response:
    form = await form_of(request)
    check_csrf(request, form)
    access(request, "writer")
    spec = _action(CLAIM_ACTIONS, action)
    app = _services(request).app
    from starlette.concurrency import run_in_threadpool

    try:
        body = spec.model.model_validate(spec.body(form))
        saved = await run_in_threadpool(spec.call, app, claim_id, body, _meta(request))
    except (ValidationError, DomainError, ProblemException) as e:
        claim = ClaimOut.of(await run_in_threadpool(app.get_claim, claim_id)).model_dump(mode="json")
        return _form_page(request, title=spec.title, action=f"/claims/{claim_id}/{action}", fields=spec.fields,
                          values=form, refused=refusal(e), claim=claim)
    return redirect_after_write(request, f"/claims/{claim_id}?done={spec.done}", saved.position)


# -- parties ----------------------------------------------------------------------------

PARTY_FIELDS = [
    Field("id", "Id", required=True, hint="a slug: lower-case letters, digits and hyphens, e.g. sergey-lavrov"),
    Field("name", "Name", required=True),
    Field("kind", "Kind", kind="select", required=True, options=[(k, k) for k in PARTY_KINDS]),
    Field("affiliation", "Affiliation", suggest=True, hint="the party it speaks for (optional)"),
    Field("aliases", "Aliases", kind="textarea", hint="other names in any script, one per line or separated by commas"),
]


@router.get("/parties/new", response_class=HTMLResponse)
def party_form(request: Request) -> HTMLResponse:
    access(request, "reader")
    return _form_page(request, title="Register a party", action="/parties/new", fields=PARTY_FIELDS,
                      values={"kind": "person", **dict(request.query_params)})


@router.post("/parties/new", response_model=None)
async def register_party(request: Request) -> Response:
    form = await form_of(request)
    check_csrf(request, form)
    access(request, "writer")
    app = _services(request).app
    from starlette.concurrency import run_in_threadpool

    try:
        body = PartyIn.model_validate({
            "id": form.get("id", "").strip(), "name": form.get("name", ""), "kind": form.get("kind", ""),
            "affiliation": _picked(form, "affiliation") or None, "aliases": cells.split_names(form.get("aliases")),
        })
        saved = await run_in_threadpool(app.register_party, body.id, body.name, body.kind, body.affiliation,
                                        body.aliases, _meta(request))
    except (ValidationError, DomainError, ProblemException) as e:
        return _form_page(request, title="Register a party", action="/parties/new", fields=PARTY_FIELDS, values=form,
                          refused=refusal(e))
    return redirect_after_write(request, f"/parties/{quote(body.id)}?done=registered", saved.position)


PARTY_ACTIONS: dict[str, Action] = {
    "alias": Action("Add an alias", [Field("alias", "Alias", required=True, hint="another name, in any script")],
                    AliasIn, lambda f: {"alias": f.get("alias", "")},
                    lambda app, pid, b, m: app.add_alias(pid, b.alias, m), "alias-added"),
    "merge": Action("Merge into another party",
                    [Field("into", "Into", required=True, suggest=True, hint="the party this one duplicates"),
                     Field("reason", "Reason")],
                    MergeIn, lambda f: {"into": _picked(f, "into"), "reason": f.get("reason") or None},
                    lambda app, pid, b, m: app.merge_party(pid, b.into, b.reason, m), "merged"),
}


@router.get("/parties/{party_id}/{action}", response_class=HTMLResponse)
def party_action_form(request: Request, party_id: str, action: str) -> HTMLResponse:
    access(request, "reader")
    spec = _action(PARTY_ACTIONS, action)
    party = _services(request).app.get_party(party_id)
    return _form_page(request, title=f"{spec.title}: {party.name}", action=f"/parties/{party_id}/{action}",
                      fields=spec.fields, values={})


@router.post("/parties/{party_id}/{action}", response_model=None)
async def party_action(request: Request, party_id: str, action: str) -> Response:
    form = await form_of(request)
    check_csrf(request, form)
    access(request, "writer")
    spec = _action(PARTY_ACTIONS, action)
    app = _services(request).app
    from starlette.concurrency import run_in_threadpool

    try:
        body = spec.model.model_validate(spec.body(form))
        saved = await run_in_threadpool(spec.call, app, party_id, body, _meta(request))
    except (ValidationError, DomainError, ProblemException) as e:
        return _form_page(request, title=spec.title, action=f"/parties/{party_id}/{action}", fields=spec.fields,
                          values=form, refused=refusal(e))
    return redirect_after_write(request, f"/parties/{quote(party_id)}?done={spec.done}", saved.position)


# -- projections --------------------------------------------------------------------------


@router.post("/audit/rebuild/{name}", response_model=None)
async def rebuild(request: Request, name: str) -> Response:
    """(admin) Rebuild a projection, as POST /v1/projections/{name}/rebuild does."""
    form = await form_of(request)
    check_csrf(request, form)
    access(request, "admin")
    if name not in PROJECTIONS:
        raise PageError(404, f"no projection is called {name!r}")
    Control(_services(request).app.recorder.datastore).request_rebuild(name)
    return RedirectResponse(f"/audit?rebuild={quote(name)}", status_code=303)
