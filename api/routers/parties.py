"""Parties: register, read, add aliases, update, merge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel

from api.consistency import caught_up
from api.deps import Access, App, AppServices, CurrentMeta, Flag
from api.routers import written
from api.schemas.common import Slug
from api.schemas.parties import AliasIn, MergeIn, PartyIn, PartyKind, PartyOut, PartyUpdateIn

router = APIRouter(prefix="/v1/parties", tags=["parties"], dependencies=[Access])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PartyOut)
def register_party(body: PartyIn, app: App, meta: CurrentMeta, response: Response) -> PartyOut:
    """Register a party; 409 when its id, name or an alias is taken."""
    saved = app.register_party(body.id, body.name, body.kind, body.affiliation, body.aliases, meta)
    written(response, saved.position, location=f"/v1/parties/{body.id}")
    return PartyOut.of(saved.value)


class Candidate(BaseModel):
    party: str
    name: str | None
    matched: str
    score: float
    merged_into: str | None


class Candidates(BaseModel):
    name: str
    candidates: list[Candidate]


class PartyListItem(PartyOut):
    claims: int


class PartyList(BaseModel):
    items: list[PartyListItem]


@router.get("", response_model=PartyList, dependencies=[caught_up("parties", "claims")])
def list_parties(
    services: AppServices,
    kind: Annotated[PartyKind | None, Query()] = None,
    merged: Annotated[Flag, Query(description="include parties merged into others (true or false)")] = True,
) -> PartyList:
    """Every party, with its aliases, what it was merged into, and how many claims it spoke or co-signed."""
    counts = services.view("claims").count_by_speaker()
    docs = services.view("parties").list(kind=kind, include_merged=merged)
    return PartyList(items=[PartyListItem.model_validate({**d, "claims": counts.get(d["id"], 0)}) for d in docs])


@router.get("/resolve", response_model=Candidates, dependencies=[caught_up("parties")])
def resolve(services: AppServices, name: Annotated[str, Query(min_length=1, max_length=300)]) -> Candidates:
    """Who a name may be: candidates with scores, best first, spelling and transliteration variants found."""
    return Candidates(name=name, candidates=services.view("parties").resolve(name))


@router.get("/{party_id}", response_model=PartyOut)
def get_party(party_id: Slug, app: App) -> PartyOut:
    """One party, with its aliases and, if merged, the party it was merged into."""
    return PartyOut.of(app.get_party(party_id))


@router.post("/{party_id}/aliases", status_code=status.HTTP_201_CREATED, response_model=PartyOut)
def add_alias(party_id: Slug, body: AliasIn, app: App, meta: CurrentMeta, response: Response) -> PartyOut:
    """Another name for the party; 409 when it is another party's."""
    saved = app.add_alias(party_id, body.alias, meta)
    written(response, saved.position)
    return PartyOut.of(saved.value)


@router.patch("/{party_id}", response_model=PartyOut)
def update_party(party_id: Slug, body: PartyUpdateIn, app: App, meta: CurrentMeta, response: Response) -> PartyOut:
    """Change name, kind or affiliation."""
    changes = body.model_dump(include=body.model_fields_set - {"reason"})
    saved = app.update_party(party_id, changes, body.reason, meta)
    written(response, saved.position)
    return PartyOut.of(saved.value)


@router.post("/{party_id}/merge", response_model=PartyOut)
def merge_party(party_id: Slug, body: MergeIn, app: App, meta: CurrentMeta, response: Response) -> PartyOut:
    """Merge this duplicate into another party: its claims count for that one from now on."""
    saved = app.merge_party(party_id, body.into, body.reason, meta)
    written(response, saved.position)
    return PartyOut.of(saved.value)
