"""Parties and topics as requests give them and as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from api.schemas.common import Name, Note, Slug, Strict
from domain.party import Party
from domain.topic import Topic

PartyKind = Literal["state", "government", "person", "organization", "media", "other"]
Aliases = Annotated[list[Name], Field(max_length=100)]


class PartyIn(Strict):
    """A party to register. Its name and aliases must be no other party's (compared normalised)."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": "kirill-dmitriev",
                    "name": "Kirill Dmitriev",
                    "kind": "person",
                    "affiliation": "russia",
                    "aliases": ["Dmitrijew", "Dmitriew", "Кирилл Дмитриев"],
                }
            ]
        }
    }

    id: Slug
    name: Name
    kind: PartyKind
    affiliation: Name | None = Field(default=None, description="the party it speaks for (id or alias)")
    aliases: Aliases = Field(default_factory=list)


class AliasIn(Strict):
    alias: Name


class MergeIn(Strict):
    into: Name
    reason: Note | None = None


class PartyUpdateIn(Strict):
    """Fields to change; those not given stay as they are."""

    name: Name | None = None
    kind: PartyKind | None = None
    affiliation: Name | None = Field(default=None, description="null: the party speaks for no other from now on")
    reason: Note | None = None

    @field_validator("name", "kind", mode="before")
    @classmethod
    def _required(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null: a party always has this field")
        return value


class PartyOut(BaseModel):
    id: str
    name: str
    kind: str
    affiliation: str | None
    aliases: list[str]
    merged_into: str | None
    version: int
    recorded_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, party: Party) -> PartyOut:
        return cls(
            id=party.slug,
            name=party.name,
            kind=party.kind,
            affiliation=party.affiliation,
            aliases=party.aliases,
            merged_into=party.merged_into,
            version=party.version,
            recorded_at=party.created_on,
            updated_at=party.modified_on,
        )


class TopicIn(Strict):
    title: Name
    description: Annotated[str, Field(max_length=5_000)] | None = None


class TopicOut(BaseModel):
    id: str
    title: str
    description: str | None
    version: int
    recorded_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, topic: Topic) -> TopicOut:
        return cls(
            id=topic.slug,
            title=topic.title,
            description=topic.description,
            version=topic.version,
            recorded_at=topic.created_on,
            updated_at=topic.modified_on,
        )
