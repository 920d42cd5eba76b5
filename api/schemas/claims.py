"""Claims as requests give them and as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, StringConstraints, field_validator

from api.schemas.common import (
    MAX_NAME,
    MAX_TEXT,
    Facts,
    Language,
    Name,
    Note,
    Slug,
    Source,
    StatedAt,
    Strict,
    source_or_none,
)
from domain.claim import Claim
from domain.claim import assertion_default as default
from domain.commands import RecordClaim

Kind = Literal["statement", "denial", "report", "assessment"]
Stance = Literal["positive", "negative", "neutral", "mixed"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
Position = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1_000)]
# At most 30 co-speakers: the positions view indexes a claim's speakers together, and one index
# entry holds 31 party ids of 64 characters (2,704 bytes); more would stop the projection.
MAX_CO_SPEAKERS = 30
PartyRefs = Annotated[list[Name], Field(max_length=MAX_CO_SPEAKERS)]

ORF = {
    "url": "https://example.org/seeds/2025-12-21-miami-talks-productive",
    "outlet": "ORF",
    "title": "Ukraine und USA sprechen von „produktiven“ Treffen in Miami",
    "published_at": "2025-12-21T22:40:00+01:00",
    "language": "de",
}
PESKOV_EXAMPLE = {
    "speaker": "dmitry-peskov",
    "about": "kirill-dmitriev",
    "topic": "miami-talks",
    "kind": "statement",
    "text": "Dmitrijews Aufgabe in Miami sei es lediglich, „Informationen zu erhalten“.",
    "language": "de",
    "verbatim": False,
    "stance": "negative",
    "position": "Dmitriev is only in Miami to receive information",
    "stated_at": "2025-12-21",
    "source": ORF,
}
JOINT_EXAMPLE = {
    "speaker": "Umerow",
    "co_speakers": ["Witkoff"],
    "topic": "miami-talks",
    "kind": "statement",
    "text": "In den vergangenen drei Tagen in Florida hat die ukrainische Delegation eine Reihe "
    "produktiver und konstruktiver Treffen mit ihren amerikanischen und europäischen Partnern abgehalten.",
    "language": "de",
    "verbatim": True,
    "stance": "positive",
    "position": "The Miami talks were productive and constructive",
    "stated_at": "2025-12-21",
    "source": ORF,
}


class ClaimIn(Strict):
    """A claim to record. Parties (speaker, co_speakers, about) by id or by any alias."""

    model_config = {"json_schema_extra": {"examples": [PESKOV_EXAMPLE, JOINT_EXAMPLE]}}

    id: UUID | None = Field(default=None, description="chosen by the client, else by the server")
    speaker: Name
    # Defaults are the domain's (``domain.claim.Assertion``), declared there once.
    co_speakers: PartyRefs = Field(default_factory=lambda: default("co_speakers"), description="a joint statement's other signers")
    about: Name | None = Field(default=default("about"), description="the party the claim is about")
    topic: Slug = Field(description="a topic id; an unknown one is defined with the id as title")
    kind: Kind = default("kind")
    text: Text
    language: Language
    verbatim: StrictBool = Field(default=default("verbatim"), description="a direct quote (true) or a paraphrase (false); JSON true or false only")
    stance: Stance
    position: Position | None = Field(default=default("position"), description="short summary; defaults to the text")
    stated_at: StatedAt = Field(description="a date, or a date-time with offset, when it was said")
    source: Source
    facts: Facts = Field(default_factory=lambda: default("facts"), description="scalar facts a report states")

    def to_domain(self) -> RecordClaim:
        return RecordClaim(id=self.id, **self.model_dump(mode="json", exclude={"id"}))


class ClaimChanges(Strict):
    """The fields a correction sets; those not given stay as they are."""

    speaker: Name | None = None
    co_speakers: PartyRefs | None = None
    about: Name | None = None
    topic: Slug | None = None
    kind: Kind | None = None
    text: Text | None = None
    language: Language | None = None
    verbatim: StrictBool | None = None
    stance: Stance | None = None
    position: Position | None = None
    stated_at: StatedAt | None = None
    source: Source | None = None
    facts: Facts | None = None

    @field_validator(
        "speaker", "co_speakers", "topic", "kind", "text", "language", "verbatim", "stance", "stated_at",
        "source", "facts", mode="before",
    )
    @classmethod
    def _required(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null: a claim always has this field")
        return value

    def to_domain(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include=self.model_fields_set)


class CorrectionIn(Strict):
    changes: ClaimChanges
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME * 10)]

    model_config = {
        "json_schema_extra": {
            "examples": [{"changes": {"stance": "mixed"}, "reason": "Peskov also said talks may continue"}]
        }
    }


class CorroborationIn(Strict):
    by: Name
    source: Source | None = None
    note: Note | None = None

    def source_dict(self) -> dict[str, Any] | None:
        return source_or_none(self.source)


class DisputeIn(CorroborationIn):
    counter_claim: UUID | None = None


class RetractionIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME * 10)]
    source: Source | None = None


class SupersessionIn(Strict):
    by_claim: UUID
    reason: Note | None = None


class Attestation(BaseModel):
    by: str
    source: dict[str, Any] | None = None
    note: str | None = None
    recorded_at: datetime | None = None
    counter_claim: str | None = None


class ClaimOut(BaseModel):
    """A claim, as it stands at the version shown."""

    id: UUID
    version: int
    speaker: str
    co_speakers: list[str]
    about: str | None
    topic: str
    kind: str
    text: str
    language: str
    verbatim: bool
    stance: str
    position: str
    stated_at: str
    source: dict[str, Any]
    facts: dict[str, Any]
    status: str
    corroborations: list[dict[str, Any]]
    disputes: list[dict[str, Any]]
    superseded_by: str | None
    recorded_at: datetime
    updated_at: datetime
    reviews: list[dict[str, Any]] = Field(default_factory=list, description="each reviewer's current verdict")

    @classmethod
    def of(cls, claim: Claim) -> ClaimOut:
        return cls(
            id=claim.id,
            version=claim.version,
            speaker=claim.speaker,
            co_speakers=claim.co_speakers,
            about=claim.about,
            topic=claim.topic,
            kind=claim.kind,
            text=claim.text,
            language=claim.language,
            verbatim=claim.verbatim,
            stance=claim.stance,
            position=claim.position or claim.text,
            stated_at=claim.stated_at,
            source=claim.source,
            facts=claim.facts,
            status=claim.status,
            corroborations=claim.corroborations,
            disputes=claim.disputes,
            superseded_by=claim.superseded_by,
            recorded_at=claim.created_on,
            updated_at=claim.modified_on,
            reviews=claim.reviews,
        )


class EventOut(BaseModel):
    """One event of a stream, with who recorded it, when, and in which request."""

    version: int
    type: str
    recorded_at: datetime
    recorded_by: str
    correlation_id: str
    data: dict[str, Any]


class BatchOut(BaseModel):
    ids: list[UUID]
    position: int | None = None
