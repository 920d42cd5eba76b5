"""Verdicts on claims (schema.org ClaimReview) and a claim's provenance (W3C PROV-O)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse

from api import jsonld
from api.consistency import caught_up
from api.deps import Access, App, AppServices, CurrentMeta
from api.errors import ProblemException
from api.routers import written
from api.schemas.claims import ClaimOut
from api.schemas.reviews import Rating, ReviewIn, ReviewOut, ReviewPage
from domain.application import ClaimsApplication
from domain.claim import Claim
from domain.errors import PartyNotFound
from domain.party import SLUG_PATTERN

router = APIRouter(tags=["reviews"], dependencies=[Access])

_LD_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {jsonld.LD_JSON: {}}}}


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def party_docs(services: Any) -> jsonld.Parties:
    """Party documents from the parties view, each read once per answer."""
    view, seen = services.view("parties"), {}

    def get(slug: str) -> dict[str, Any] | None:
        if slug not in seen:
            seen[slug] = view.get(slug)
        return seen[slug]

    return get


@router.post("/v1/claims/{claim_id}/reviews", status_code=status.HTTP_201_CREATED, response_model=ClaimOut)
def review_claim(claim_id: UUID, body: ReviewIn, app: App, meta: CurrentMeta, response: Response) -> ClaimOut:
    """A verdict on the claim (retracted or not); it supersedes the reviewer's earlier one, which stays in history."""
    saved = app.review_claim(claim_id, body.by, body.rating, body.note, list(body.sources), meta)
    written(response, saved.position, etag=saved.value.version)
    return ClaimOut.of(saved.value)


def claim_reviews_ld(request: Request, claim: Claim, services: Any) -> JSONResponse:
    """GET /v1/claims/{id} asked for JSON-LD: the claim's current verdicts as ClaimReviews."""
    doc = {"id": str(claim.id), **claim.asserted()}
    parties = _current_parties(services.app)  # from the store, as the claim itself: no read model to wait for
    base = base_url(request)
    graph = jsonld.review_graph(jsonld.claim_review(base, review, doc, parties) for review in claim.reviews)
    return JSONResponse(graph, media_type=jsonld.LD_JSON, headers={"ETag": f'"{claim.version}"', "Vary": "Accept"})


@router.get("/v1/reviews", response_model=ReviewPage, responses=_LD_RESPONSE,
            dependencies=[caught_up("reviews", "claims", "parties")])
def list_reviews(  # noqa: PLR0913
    request: Request,
    app: App,
    services: AppServices,
    reviewer: Annotated[str | None, Query(description="by this reviewing party (id or alias)")] = None,
    rating: Annotated[Rating | None, Query()] = None,
    topic: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    party: Annotated[str | None, Query(description="of claims by this party or any affiliated with or merged into it")] = None,
    since: Annotated[datetime | None, Query(description="recorded at or after this time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    """Current verdicts, newest first; `Accept: application/ld+json` answers schema.org ClaimReviews."""
    if since is not None and since.tzinfo is None:
        raise _invalid("since", "a date-time with offset, e.g. 2025-12-21T00:00:00Z")
    members = services.view("parties").members(app.resolve_party(party, field="party").slug) if party else None
    try:
        items, next_cursor = services.view("reviews").list(
            services.view("claims").t("claim"),
            reviewer=app.resolve_party(reviewer, field="reviewer").slug if reviewer else None,
            rating=rating, topic=topic, party_members=members, since=since, limit=limit, cursor=cursor,
        )
    except ValueError as e:
        raise _invalid("cursor", str(e)) from None
    if jsonld.wants_ld(request.headers.get("accept")):
        parties, base = party_docs(services), base_url(request)
        graph = jsonld.review_graph((jsonld.claim_review(base, item, item["claim"], parties) for item in items),
                                    next_cursor=next_cursor)
        headers = {"Vary": "Accept"}
        if next_cursor is not None:
            headers["Link"] = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
        return JSONResponse(graph, media_type=jsonld.LD_JSON, headers=headers)
    return ReviewPage(items=[ReviewOut.model_validate(item) for item in items], next_cursor=next_cursor)


@router.get("/v1/claims/{claim_id}/provenance", responses={200: {"content": {jsonld.LD_JSON: {}}}})
def claim_provenance(claim_id: UUID, request: Request, app: App, services: AppServices) -> JSONResponse:
    """The claim's versions as W3C PROV-O JSON-LD: who said it, where, who recorded each change, when."""
    versions = list(_versions(app, claim_id))
    doc = jsonld.provenance(base_url(request), claim_id, versions, _current_parties(app))
    return JSONResponse(doc, media_type=jsonld.LD_JSON)


def _versions(app: ClaimsApplication, claim_id: UUID) -> Any:
    """Each event of the claim with its asserted fields after it."""
    state: dict[str, Any] = {}
    for event in app.claim_history(claim_id):
        if isinstance(event, Claim.ClaimAsserted):
            state = {name: getattr(event, name) for name in ("speaker", "co_speakers", "text", "verbatim", "source")}
        elif isinstance(event, Claim.ClaimCorrected):
            state = {**state, **event.changes}
        yield event, state


def _current_parties(app: ClaimsApplication) -> jsonld.Parties:
    """Party documents from the event store itself: provenance does not wait for a read model."""
    seen: dict[str, dict[str, Any] | None] = {}

    def get(slug: str) -> dict[str, Any] | None:
        if slug not in seen:
            try:
                party = app.get_party(slug)
            except PartyNotFound:
                seen[slug] = None
            else:
                seen[slug] = {"name": party.name, "kind": party.kind, "affiliation": party.affiliation}
        return seen[slug]

    return get


def _invalid(field: str, reason: str) -> ProblemException:
    return ProblemException(422, f"{field}: {reason}", kind="validation", errors=[{"field": field, "reason": reason}])
