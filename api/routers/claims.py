"""Claims: record (one or a batch), read (now or earlier), history, and what happens to them next."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID, uuid5

import orjson
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from adapters import collector
from api.auth import authorize, bearer
from api.consistency import caught_up
from api.deps import Access, App, AppServices, CurrentMeta, IfMatch, meta_of, refuse_nul_in_query
from api.errors import ProblemException, validation_errors
from api.jsonld import LD_JSON, wants_ld
from api.idempotency import STATE as IDEMPOTENCY_STATE
from api.reports import event_out
from api.routers import written
from api.routers.reviews import claim_reviews_ld
from api.schemas.claims import (
    BatchOut,
    ClaimIn,
    ClaimOut,
    CorrectionIn,
    CorroborationIn,
    DisputeIn,
    EventOut,
    RetractionIn,
    SupersessionIn,
)
from api.schemas.common import TEXT_STORABLE, StatedAt, source_or_none
from api.schemas.when import Instant
from domain.commands import RecordClaim
from domain.errors import BatchRejected
from domain.party import SLUG_PATTERN
from projections import values
from projections.claims import decode_cursor, stated_key

router = APIRouter(prefix="/v1/claims", tags=["claims"], dependencies=[Access])

MAX_BATCH = 10_000
IDEMPOTENT_CLAIMS = UUID("6f1d2c1e-54a3-4b6e-9f0e-7c1c2b8a0d14")  # namespace of ids derived from Idempotency-Keys
_claim_in = TypeAdapter(ClaimIn)
# Where record_claim checks claims: four threads of their own, not the framework's pool of 40.
# Under 32 clients the pool ran up to 32 checks at once, each thread taking the GIL for its
# ~0.2 ms of Python in turn with the event loop and the group commit's writer: a convoy that
# cost more than the checks (bench.ingest, same hour: 837 -> 1,616 claims/s, API CPU per claim
# 0.69 -> 0.45 ms, p99 111 -> 47 ms). Four, not one: a check that must query (a name not yet
# known, a client-chosen id) waits for PostgreSQL without stopping the others.
_CHECKS = ThreadPoolExecutor(4, thread_name_prefix="claim-check")
StatedAtAdapter: TypeAdapter[str] = TypeAdapter(StatedAt)


def _answer(response: Response, saved: Any) -> ClaimOut:
    claim = saved.value
    written(response, saved.position, etag=claim.version)
    return ClaimOut.of(claim)


async def record_claim(body: ClaimIn, request: Request) -> Response:
    """Record a claim. 422 names the field when the speaker (or another party) resolves to no party.

    The claim is checked in one of four threads of its own (``_CHECKS``; a look-up that does query
    may wait and retry on a broken connection: never on the event loop). With group commit the
    request then waits for its group's commit without holding a thread; without, the whole write
    runs in the framework's thread pool.

    Sent with an Idempotency-Key and no id, the claim's id is derived from the key (with the
    caller's key name and the key's epoch): should the process die between the commit and
    storing its answer, the retry that takes the key over finds the claim already recorded, and
    records nothing.
    """
    app = request.app.state.services.app
    meta = meta_of(request)
    if body.id is None and (key := getattr(request.state, IDEMPOTENCY_STATE, None)):
        body = body.model_copy(update={"id": uuid5(IDEMPOTENT_CLAIMS, key)})
    if app.group_commit:
        submitted = await asyncio.get_running_loop().run_in_executor(_CHECKS, app.submit_claim, body.to_domain(), meta)
        saved = await asyncio.wrap_future(submitted)
    else:
        saved = await run_in_threadpool(app.record_claim, body.to_domain(), meta)
    # Serialised once, as a response_model would (the same bytes), without validating it again first.
    claim = saved.value
    response = Response(ClaimOut.of(claim).model_dump_json(), status_code=status.HTTP_201_CREATED,
                        media_type="application/json")
    written(response, saved.position, location=f"/v1/claims/{claim.id}", etag=claim.version)
    return response


class RecordClaimRoute(APIRoute):
    """``POST /v1/claims`` with less of the framework's work per request: the busiest route.

    A well-formed claim (a JSON body that validates as ``ClaimIn``) goes to ``record_claim``
    past FastAPI's dependency solving, which cost more than the rest of the route's own work on
    the event loop (cProfile of the ingest load: ~0.1 ms a request). The dependencies it would
    solve are run here as they are: the app's NUL check of the query, the router's ``Access``
    (a writer, for a POST). Anything else (no body, another content type, bad JSON, a field
    that fails validation) takes the framework's own path, so every 422 reads as before.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        framework = super().get_route_handler()

        async def handler(request: Request) -> Response:
            # In the framework's order: the body read first (bad JSON is a 422 before anything
            # else), then the app's dependencies, then the router's.
            body = _well_formed_claim(await request.body(), request.headers.get("content-type"))
            if body is None:
                return await framework(request)
            await refuse_nul_in_query(request)
            authorize(request, await bearer(request), "writer")
            return await record_claim(body, request)

        return handler


def _well_formed_claim(raw: bytes, content_type: str | None) -> ClaimIn | None:
    """The claim a JSON body holds, parsed and validated as FastAPI does it; None if it is not one."""
    if not raw or content_type is None or content_type.partition(";")[0].strip().lower() != "application/json":
        return None
    try:
        return _claim_in.validate_python(json.loads(raw), from_attributes=True)
    except ValueError:  # bad JSON, bad text encoding, or a ValidationError: the framework answers it
        return None


router.add_api_route(
    "", record_claim, methods=["POST"], status_code=status.HTTP_201_CREATED, response_model=ClaimOut,
    route_class_override=RecordClaimRoute,
)


@router.post(
    "/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=BatchOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/ClaimIn"}}},
                "application/x-ndjson": {"schema": {"type": "string", "description": "one ClaimIn per line"}},
            },
        }
    },
)
async def record_claims(request: Request, app: App, meta: CurrentMeta, response: Response) -> BatchOut:
    """Record up to 10,000 claims atomically: all, or none with each bad item named by index."""
    body = await request.body()
    # A batch's objects live until it is saved: nothing for the collector to free.
    with collector.holding(collector.PAUSED):
        items = _batch_items(body, request.headers.get("content-type", ""))
        # One look at the body instead of a walk through each claim's text (~3 us a claim).
        context = None if values.may_hold_unstorable_text(body) else {TEXT_STORABLE: True}
        errors: list[dict[str, Any]] = []
        fields: list[RecordClaim] = []
        for index, item in enumerate(items):
            try:
                fields.append(_claim_in.validate_python(item, context=context).to_domain())
            except ValidationError as e:
                errors.extend({"index": index, **err} for err in validation_errors(list(e.errors())))
        if errors:
            raise BatchRejected(errors)
        saved = await run_in_threadpool(app.record_claims, fields, meta)
    written(response, saved.position)
    return BatchOut(ids=[claim.id for claim in saved.value], position=saved.position)


def _batch_items(body: bytes, content_type: str) -> list[Any]:
    if "ndjson" in content_type or "jsonl" in content_type:
        items = []
        for number, line in enumerate(body.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(values.loads(line))
                except orjson.JSONDecodeError as e:
                    raise ProblemException(
                        422, f"line {number} is not JSON: {e}", kind="validation",
                        errors=[{"index": len(items), "field": "body", "reason": f"line {number}: {e}"}],
                    ) from None
    else:
        try:
            items = values.loads(body)
        except orjson.JSONDecodeError as e:
            raise ProblemException(422, f"the body is not JSON: {e}", kind="validation",
                                   errors=[{"field": "body", "reason": str(e)}]) from None
        if not isinstance(items, list):
            raise ProblemException(422, "a batch is a JSON array of claims (or NDJSON, one per line)",
                                   kind="validation", errors=[{"field": "body", "reason": "expected an array"}])
    if not items:
        raise ProblemException(422, "the batch is empty", kind="validation",
                               errors=[{"field": "body", "reason": "no claims"}])
    if len(items) > MAX_BATCH:
        raise ProblemException(413, f"a batch holds at most {MAX_BATCH} claims, not {len(items)}", kind="batch-too-large")
    return items


class ClaimPage(BaseModel):
    items: list[ClaimOut]
    next_cursor: str | None


def claim_from_view(doc: dict[str, Any]) -> ClaimOut:
    """A claims-view document as the API shows a claim (position defaults to the text)."""
    return ClaimOut.model_validate({**doc, "position": doc.get("position") or doc["text"]})


@router.get("", response_model=ClaimPage, dependencies=[caught_up("claims", "parties", "reviews")])
def list_claims(  # noqa: PLR0913
    app: App,
    services: AppServices,
    speaker: Annotated[str | None, Query(description="spoken or co-signed by this party (id or alias)")] = None,
    party: Annotated[str | None, Query(description="by this party or any party affiliated with or merged into it")] = None,
    about: Annotated[str | None, Query(description="about this party")] = None,
    topic: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    status: Annotated[Literal["active", "retracted", "superseded"] | None, Query()] = None,
    kind: Annotated[Literal["statement", "denial", "report", "assessment"] | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=500, description="full text, German and English stemmed")] = None,
    stated_from: Annotated[str | None, Query(description="stated on or after (date or date-time)")] = None,
    stated_to: Annotated[str | None, Query(description="stated on or before (date or date-time)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ClaimPage:
    """Claims, newest recorded first, filtered; follow next_cursor for the next page."""
    view = services.view("claims")
    lower = stated_key(_stated(stated_from, "stated_from")) if stated_from else None
    upper = _upper(_stated(stated_to, "stated_to")) if stated_to else None
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError as e:
            raise _invalid("cursor", str(e)) from None
    members = services.view("parties").members(app.resolve_party(party, field="party").slug) if party else None
    items, next_cursor = view.list(
        speaker=app.resolve_party(speaker, field="speaker").slug if speaker else None,
        party_members=members,
        about=app.resolve_party(about, field="about").slug if about else None,
        topic=topic, status=status, kind=kind, q=q,
        stated_from=lower, stated_to=upper, limit=limit, cursor=cursor,
    )
    verdicts = services.view("reviews").of_claims([doc["id"] for doc in items]) if items else {}
    return ClaimPage(items=[claim_from_view({**doc, "reviews": verdicts.get(doc["id"], [])}) for doc in items],
                     next_cursor=next_cursor)


def _stated(value: str, name: str) -> str:
    try:
        return StatedAtAdapter.validate_python(value)
    except ValidationError as e:
        raise _invalid(name, validation_errors(list(e.errors()))[0]["reason"]) from None


def _invalid(field: str, reason: str) -> ProblemException:
    return ProblemException(422, f"{field}: {reason}", kind="validation", errors=[{"field": field, "reason": reason}])


def _upper(value: str) -> datetime:
    """The last instant a stated_to bound admits: the end of the day for a date alone."""
    key = stated_key(value)
    return key + timedelta(days=1) - timedelta(microseconds=1) if len(value) == 10 else key


@router.get("/{claim_id}", response_model=ClaimOut, responses={200: {"content": {LD_JSON: {}}}})
def get_claim(  # noqa: PLR0913
    claim_id: UUID,
    app: App,
    response: Response,
    request: Request,
    services: AppServices,
    version: Annotated[int | None, Query(ge=1, description="the claim as it was at this version")] = None,
    as_of: Annotated[Instant | None, Query(description="the claim as it was recorded at this time "
                                                     "(a date alone: by the end of that day, UTC)")] = None,
) -> Any:
    """A claim now, at a version, or as recorded at a time; ETag is the version shown.

    With `Accept: application/ld+json`: its current verdicts as schema.org ClaimReview JSON-LD."""
    claim = app.get_claim(claim_id, version=version, as_of=as_of)
    if wants_ld(request.headers.get("accept")):  # issue 13: its verdicts as schema.org ClaimReview
        return claim_reviews_ld(request, claim, services)
    response.headers["ETag"] = f'"{claim.version}"'
    return ClaimOut.of(claim)


@router.get("/{claim_id}/history", response_model=list[EventOut])
def claim_history(claim_id: UUID, app: App) -> list[EventOut]:
    """Every event of the claim, with who recorded it, when, and in which request."""
    return [event_out(event) for event in app.claim_history(claim_id)]


@router.post("/{claim_id}/corrections", response_model=ClaimOut)
def correct_claim(
    claim_id: UUID, body: CorrectionIn, expected: IfMatch, app: App, meta: CurrentMeta, response: Response
) -> ClaimOut:
    """Change fields of the claim at the version If-Match names (412 if it moved on, 428 without)."""
    version = expected.expected(lambda: app.get_claim(claim_id).version)
    saved = app.correct_claim(claim_id, version, body.changes.to_domain(), body.reason, meta)
    return _answer(response, saved)


@router.post("/{claim_id}/corroborations", status_code=status.HTTP_201_CREATED, response_model=ClaimOut)
def corroborate_claim(claim_id: UUID, body: CorroborationIn, app: App, meta: CurrentMeta, response: Response) -> ClaimOut:
    """A party backs the claim up."""
    return _answer(response, app.corroborate_claim(claim_id, body.by, body.source_dict(), body.note, meta))


@router.post("/{claim_id}/disputes", status_code=status.HTTP_201_CREATED, response_model=ClaimOut)
def dispute_claim(claim_id: UUID, body: DisputeIn, app: App, meta: CurrentMeta, response: Response) -> ClaimOut:
    """A party contradicts the claim, perhaps with a counter-claim."""
    saved = app.dispute_claim(claim_id, body.by, body.source_dict(), body.note, body.counter_claim, meta)
    return _answer(response, saved)


@router.post("/{claim_id}/retraction", response_model=ClaimOut)
def retract_claim(claim_id: UUID, body: RetractionIn, app: App, meta: CurrentMeta, response: Response) -> ClaimOut:
    """Withdraw the claim (409 if it already is)."""
    return _answer(response, app.retract_claim(claim_id, body.reason, source_or_none(body.source), meta))


@router.post("/{claim_id}/supersession", response_model=ClaimOut)
def supersede_claim(claim_id: UUID, body: SupersessionIn, app: App, meta: CurrentMeta, response: Response) -> ClaimOut:
    """Replace the claim by a newer one (409 if already superseded, 422 if that claim is unknown)."""
    return _answer(response, app.supersede_claim(claim_id, body.by_claim, body.reason, meta))
