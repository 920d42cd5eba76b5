"""The desk's forms: sign in and out, record a claim, correct it, and every other write.

Every write goes through the API's own request models (the same validation, the same errors)
and the ClaimsApplication use cases, called from this file only. A refused write shows the
form again with each problem+json error beside the field it names; a done one redirects
(303) to its result and remembers the write's log position so that the next reads show it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from api.errors import ProblemException
from api.pages import cells
from api.pages.forms import (
    CLAIM_FIELDS,
    PARTY_FIELDS,
    SOURCE_FIELDS,
    Field,
    Refusal,
    claim_body,
    claim_values,
    correct_fields,
    correction_changes,
    picked,
    refusal,
    source,
)
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

def _meta(request: Request) -> Meta:
    return Meta(recorded_at=datetime.now(UTC), recorded_by=getattr(request.state, "principal", None) or "local",
                correlation_id=request.state.request_id)


def _services(request: Request) -> Any:
    return request.app.state.services


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
        saved = await run_in_threadpool(app.record_claim, body.to_domain(), _meta(request))
    except (ValidationError, DomainError, ProblemException) as e:
        return _form_page(request, title="Record a claim", action="/record", fields=CLAIM_FIELDS, values=form,
                          refused=refusal(e))
    return redirect_after_write(request, f"/claims/{saved.value.id}?done=recorded", saved.position)


@router.get("/claims/{claim_id}/correct", response_class=HTMLResponse)
def correct_form(request: Request, claim_id: UUID) -> HTMLResponse:
    access(request, "reader")
    claim = ClaimOut.of(_services(request).app.get_claim(claim_id)).model_dump(mode="json")
    return _form_page(request, title="Correct the claim", action=f"/claims/{claim_id}/correct",
                      fields=correct_fields(), values=claim_values(claim), hidden={"version": str(claim["version"])},
                      intro=f"Version {claim['version']} as read now. Change what is wrong; the rest stays.",
                      claim=claim)


@router.post("/claims/{claim_id}/correct", response_model=None)
async def correct(request: Request, claim_id: UUID) -> Response:
    """Correct at the version read; a stale one shows what changed meanwhile, never overwrites it."""
    form = await form_of(request)
    check_csrf(request, form)
    access(request, "writer")
    app = _services(request).app
    page = {"title": "Correct the claim", "action": f"/claims/{claim_id}/correct", "fields": correct_fields()}
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
    return {"by": picked(form, "by"), "note": form.get("note") or None, "source": source(form, ("url", "outlet"))}


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
        RetractionIn, lambda f: {"reason": f.get("reason", ""), "source": source(f, ("url", "outlet"))},
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
    async def claim_shown() -> dict[str, Any]:  # the form shown again beside the claim
        app = _services(request).app
        return {"claim": ClaimOut.of(await run_in_threadpool(app.get_claim, claim_id)).model_dump(mode="json")}

    return await _perform(request, _action(CLAIM_ACTIONS, action), claim_id, f"/claims/{claim_id}", claim_shown)


async def _perform(request: Request, spec: Action, subject: Any, path: str,
                   shown_again: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> Response:
    """A claim's or a party's action form posted: checked, written, then the subject's page (or the form, refused)."""
    form = await form_of(request)
    check_csrf(request, form)
    access(request, "writer")
    try:
        body = spec.model.model_validate(spec.body(form))
        saved = await run_in_threadpool(spec.call, _services(request).app, subject, body, _meta(request))
    except (ValidationError, DomainError, ProblemException) as e:
        extra = await shown_again() if shown_again is not None else {}
        return _form_page(request, title=spec.title, action=request.url.path, fields=spec.fields,
                          values=form, refused=refusal(e), **extra)
    return redirect_after_write(request, f"{path}?done={spec.done}", saved.position)


# -- parties ----------------------------------------------------------------------------

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
    try:
        body = PartyIn.model_validate({
            "id": form.get("id", "").strip(), "name": form.get("name", ""), "kind": form.get("kind", ""),
            "affiliation": picked(form, "affiliation") or None, "aliases": cells.split_names(form.get("aliases")),
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
                    MergeIn, lambda f: {"into": picked(f, "into"), "reason": f.get("reason") or None},
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
    return await _perform(request, _action(PARTY_ACTIONS, action), party_id, f"/parties/{quote(party_id)}")


# -- projections --------------------------------------------------------------------------


@router.post("/audit/rebuild/{name}", response_model=None)
async def rebuild(request: Request, name: str) -> Response:
    """(admin) Rebuild a projection, as POST /v1/projections/{name}/rebuild does."""
    form = await form_of(request)
    check_csrf(request, form)
    access(request, "admin")
    if name not in PROJECTIONS:
        raise PageError(404, f"no projection is called {name!r}")
    Control(_services(request).datastore).request_rebuild(name)
    return RedirectResponse(f"/audit?rebuild={quote(name)}", status_code=303)
