"""The tamper-evident log: its events with their hashes, a full re-hash, signed checkpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from adapters import checkpoint
from adapters.audit import AuditLog, Verification, decode_timestamp
from api.deps import Access, AppServices, Flag
from api.schemas.audit import AuditEventOut, AuditPage, CheckpointOut, Intact, Tampered

router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[Access])


@router.get("/events")
def events(
    services: AppServices,
    after: Annotated[int, Query(ge=0, description="the position to read after")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """The global log in position order, each event with its hash and the hash before it."""
    page = AuditLog.of(services.app).page(after, limit)
    items = [
        AuditEventOut(
            position=e.position, stream=e.stream, version=e.version, type=e.type,
            recorded_at=decode_timestamp(services.app, e),
            hash=e.hash.hex() if e.hash is not None else None,
            prev_hash=e.prev_hash.hex() if e.prev_hash is not None else None,
        )
        for e in page
    ]
    return AuditPage(items=items, next_after=items[-1].position if len(items) == limit else None)


@router.get("/verify")
async def verify(
    request: Request,
    services: AppServices,
    resume: Annotated[Flag, Query(description="re-hash only the events after the last verified point")] = False,
) -> Intact | Tampered:
    """Re-hash the log from the stored events and compare with the chain.

    By default every event is re-hashed (as `claims audit verify` does); `resume=true` walks
    only what follows the point the last intact verification reached, once that point still
    checks out (cheaper, and blind to an event before it rewritten in place: docs/security.md).
    It runs on a lane of its own, and concurrent calls share one run (docs/security.md).
    """
    lane = request.app.state.long_reads
    audit = AuditLog.of(services.app)

    def run() -> Verification:
        with lane.connect() as conn:
            return audit.verify(connection=conn, resume=resume)

    result = await lane.shared(("verify", resume), run)
    if result.ok:
        return Intact(events=result.events, head=result.head.hex(), checked_from=result.resumed_after)
    return Tampered(first_bad_position=result.first_bad_position or 0, reason=result.reason or "")


@router.get("/checkpoint")
def checkpoint_now(services: AppServices) -> CheckpointOut:
    """The log's size and head, signed: keep it elsewhere to prove later that the log still extends it."""
    size, head = AuditLog.of(services.app).head()
    return CheckpointOut(**checkpoint.make(checkpoint.signing_key(services.settings), size, head))
