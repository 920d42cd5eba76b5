"""`claims load`: record parties, topics, claims and follow-ups from JSON or NDJSON files.

Each record has a "type" (party, topic, claim, alias, merge, correction, corroboration,
dispute, retraction, supersession) and the fields of the matching API request; see
examples/README.md. Records are applied in file order. Loading a file twice records
nothing new: what is already there, as given, is counted as unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from api.errors import validation_errors
from api.schemas.claims import ClaimIn, CorrectionIn, CorroborationIn, DisputeIn, RetractionIn, SupersessionIn
from api.schemas.common import Name, Slug, source_or_none
from api.schemas.parties import AliasIn, MergeIn, PartyIn, TopicIn
from domain.application import ClaimsApplication
from domain.base import Meta
from domain.errors import AliasTaken, BatchRejected, ClaimAlreadyRetracted, DomainError, PartyExists
from domain.names import distinct_names
from projections import values

CLAIM_BATCH = 500


class TopicRecord(TopicIn):
    id: Slug


class AliasRecord(AliasIn):
    party: Name


class MergeRecord(MergeIn):
    party: Name


class CorrectionRecord(CorrectionIn):
    claim: UUID
    version: int = Field(ge=1, description="the version the correction was written against (If-Match)")


class CorroborationRecord(CorroborationIn):
    claim: UUID


class DisputeRecord(DisputeIn):
    claim: UUID


class RetractionRecord(RetractionIn):
    claim: UUID


class SupersessionRecord(SupersessionIn):
    claim: UUID


# A record's "type" -> its model: the API's request model plus what the URL would say.
MODELS: dict[str, type[BaseModel]] = {
    "party": PartyIn,
    "topic": TopicRecord,
    "claim": ClaimIn,
    "alias": AliasRecord,
    "merge": MergeRecord,
    "correction": CorrectionRecord,
    "corroboration": CorroborationRecord,
    "dispute": DisputeRecord,
    "retraction": RetractionRecord,
    "supersession": SupersessionRecord,
}


@dataclass
class Report:
    """What a load did: counts by outcome, and each failure with its place."""

    recorded: int = 0
    unchanged: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class Line:
    place: str
    type: str
    record: Any


def read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(place, record) for every record of a JSON array file or an NDJSON file."""
    raw = path.read_bytes()
    stripped = raw.lstrip()
    if stripped.startswith(b"["):
        try:
            records = values.loads(raw)
        except orjson.JSONDecodeError as e:  # nested too deep, cut short, not UTF-8 …: where, and why
            yield f"{path}:{e.lineno}", e
            return
        for index, record in enumerate(records):
            yield f"{path}[{index}]", record
        return
    for number, line in enumerate(raw.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith(b"//"):
            try:
                yield f"{path}:{number}", values.loads(line)
            except orjson.JSONDecodeError as e:
                yield f"{path}:{number}", e


def parse(place: str, record: Any) -> Line:
    """Validate a record against its model; raises ValueError saying what is wrong where."""
    if isinstance(record, Exception):
        raise ValueError(f"{place}: not JSON: {record}")
    if not isinstance(record, dict) or record.get("type") not in MODELS:
        raise ValueError(f"{place}: a record needs \"type\", one of {', '.join(MODELS)}")
    fields = {k: v for k, v in record.items() if k != "type"}
    try:
        model = TypeAdapter(MODELS[record["type"]]).validate_python(fields)
    except ValidationError as e:
        reasons = "; ".join(f"{err['field']}: {err['reason']}" for err in validation_errors(list(e.errors())))
        raise ValueError(f"{place}: {reasons}") from None
    return Line(place, record["type"], model)


class Loader:
    """Applies records to the application, batching runs of claims into one transaction."""

    def __init__(self, app: ClaimsApplication, meta: Callable[[], Meta]) -> None:
        self.app = app
        self.meta = meta
        self.report = Report()
        self._claims: list[Line] = []

    def add(self, line: Line) -> None:
        if line.type == "claim":
            self._claims.append(line)
            if len(self._claims) >= CLAIM_BATCH:
                self.flush()
            return
        self.flush()
        self._apply(line)

    def flush(self) -> None:
        lines, self._claims = self._claims, []
        if not lines:
            return
        try:
            saved = self.app.record_claims([line.record.to_domain() for line in lines], self.meta())
        except BatchRejected:
            for line in lines:  # one by one, to say which failed and keep the rest
                self._apply(line)
            return
        self.report.recorded += len(lines) if saved.position is not None else 0
        self.report.unchanged += len(lines) if saved.position is None else 0

    def _apply(self, line: Line) -> None:
        try:
            changed = self._do(line.type, line.record)
        except DomainError as e:
            where = f"{line.type} {e.field}" if e.field else line.type
            self.report.failures.append(f"{line.place}: {where}: {e.detail}")
            return
        if changed:
            self.report.recorded += 1
        else:
            self.report.unchanged += 1

    def _do(self, kind: str, r: Any) -> bool:  # noqa: PLR0911
        app, meta = self.app, self.meta()
        if kind == "party":
            try:
                app.register_party(r.id, r.name, r.kind, r.affiliation, r.aliases, meta)
            except (PartyExists, AliasTaken):
                if not _same_party(app, r):
                    raise
                return False
            return True
        if kind == "topic":
            return app.put_topic(r.id, r.title, r.description, meta).position is not None
        if kind == "claim":
            return app.record_claim(r.to_domain(), meta).position is not None
        if kind == "alias":
            if r.alias in app.get_party(r.party).aliases:
                return False
            app.add_alias(r.party, r.alias, meta)
            return True
        if kind == "merge":
            if app.get_party(r.party).merged_into == app.resolve_party(r.into).slug:
                return False
            app.merge_party(r.party, r.into, r.reason, meta)
            return True
        if kind == "correction":
            changes = r.changes.to_domain()
            claim = app.get_claim(r.claim)
            if all(getattr(claim, k) == v for k, v in changes.items()):
                return False
            app.correct_claim(r.claim, r.version, changes, r.reason, meta)
            return True
        if kind in ("corroboration", "dispute"):
            return self._attest(kind, r, meta)
        if kind == "retraction":
            try:
                app.retract_claim(r.claim, r.reason, source_or_none(r.source), meta)
            except ClaimAlreadyRetracted:
                return False
            return True
        if kind == "supersession":
            if app.get_claim(r.claim).superseded_by == str(r.by_claim):
                return False
            app.supersede_claim(r.claim, r.by_claim, r.reason, meta)
            return True
        raise AssertionError(kind)  # parse() admits only the kinds above

    def _attest(self, kind: str, r: Any, meta: Meta) -> bool:
        app = self.app
        by = app.resolve_party(r.by, field="by").slug
        source = r.source_dict()
        claim = app.get_claim(r.claim)
        done = claim.corroborations if kind == "corroboration" else claim.disputes
        if any(a["by"] == by and a["source"] == source and a["note"] == r.note for a in done):
            return False
        if kind == "corroboration":
            app.corroborate_claim(r.claim, r.by, source, r.note, meta)
        else:
            app.dispute_claim(r.claim, r.by, source, r.note, r.counter_claim, meta)
        return True


def _same_party(app: ClaimsApplication, r: PartyIn) -> bool:
    """Is the party already registered as this record describes it?"""
    try:
        party = app.get_party(r.id)
    except DomainError:
        return False
    affiliation = app.resolve_party(r.affiliation).slug if r.affiliation else None
    aliases = distinct_names([r.name, *r.aliases])[1:]  # as registration keeps them
    return (party.name, party.kind, party.affiliation) == (r.name, r.kind, affiliation) and set(aliases) <= set(
        party.aliases
    )
