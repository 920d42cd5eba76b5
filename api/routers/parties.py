"""Parties: register, read, add aliases, update, merge."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import App, CurrentMeta
from api.routers import written
from api.schemas.common import Slug
from api.schemas.parties import AliasIn, MergeIn, PartyIn, PartyOut, PartyUpdateIn

router = APIRouter(prefix="/v1/parties", tags=["parties"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PartyOut)
def register_party(body: PartyIn, app: App, meta: CurrentMeta, response: Response) -> PartyOut:
    """Register a party; 409 when its id, name or an alias is taken."""
    saved = app.register_party(body.id, body.name, body.kind, body.affiliation, body.aliases, meta)
    written(response, saved.position, location=f"/v1/parties/{body.id}")
    return PartyOut.of(saved.value)


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
