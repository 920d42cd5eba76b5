"""The use cases: what a client can ask of the claims record.

``ClaimsApplication`` holds the claims' use cases; those of parties and topics are inherited
from ``PartyCases`` (``party_cases.py``), the shared plumbing (saving, retrying) from
``UseCases`` (``use_cases.py``). Names become party ids in ``PartyDirectory``
(``directory.py``); the group commit is a ``ClaimPipeline`` the composition root passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.base import Meta, Recorded
from domain.claim import Claim, check_speakers, supersession_chain
from domain.commands import RecordClaim
from domain.directory import Lookups, PartyDirectory
from domain.errors import (
    BatchRejected,
    ClaimExists,
    ClaimNotFound,
    DomainError,
    InvalidRequest,
    StaleVersion,
    UnknownClaim,
)
from domain.ids import fresh_ids, new_id
from domain.party_cases import PartyCases
from domain.ports import ClaimPipeline, PipelineFactory, StreamStore, Suggest
from domain.topic import Topic
from domain.use_cases import RecordConflictError, Saved

__all__ = ["ClaimsApplication", "PendingClaim", "Saved"]

# Fields of a claim that name parties, as a request names them (id or alias).
_PARTY_FIELDS = ("speaker", "co_speakers", "about")
# A claim to record: the command, or a mapping of its fields.
ClaimRequest = RecordClaim | Mapping[str, Any]


@dataclass(frozen=True)
class PendingClaim:
    """A checked claim waiting for its group's commit: its events, and those of the topic it defines."""

    claim: Claim
    events: list[Any]
    topic_events: list[Any]


def _no_suggestions(name: str) -> list[dict[str, Any]]:
    return []


class ClaimsApplication(PartyCases):
    """Parties, topics and claims, recorded as events."""

    name = "claims"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        pipeline: PipelineFactory | None = None,
        suggest_parties: Suggest = _no_suggestions,
    ) -> None:
        """``pipeline``: where ``submit_claim`` hands checked claims (the group commit, which
        shares transactions between concurrent claims); None: each claim is saved at once, in a
        transaction of its own. ``suggest_parties``: "did you mean" candidates for an unknown name."""
        super().__init__(env)
        if not isinstance(self.recorder, StreamStore):
            raise TypeError(
                f"{type(self.recorder).__name__} cannot read streams by id (select_streams): use the"
                " PostgreSQL recorder (adapters.recorder) or PERSISTENCE_MODULE=adapters.memory"
            )
        self.names = PartyDirectory(self.recorder, self.mapper.to_domain_event, suggest_parties)
        self._pipeline: ClaimPipeline | None = pipeline(self) if pipeline is not None else None

    @property
    def group_commit(self) -> bool:
        """Whether ``submit_claim`` hands claims to a pipeline (else it saves them itself, at once)."""
        return self._pipeline is not None

    def close(self) -> None:
        """Commit the claims already handed over, stop the pipeline, close the store."""
        pipeline = getattr(self, "_pipeline", None)
        if pipeline is not None:
            pipeline.close()
        super().close()

    # -- claims ----------------------------------------------------------------------

    def record_claim(self, command: ClaimRequest, meta: Meta) -> Saved[Claim]:
        """Record one claim (parties by id or alias).

        Returns once the claim is committed: with group commit, in one transaction with the
        claims recorded concurrently (``submit_claim``), yet failing only with its own error.
        """
        return self.submit_claim(command, meta).result()

    def submit_claim(self, command: ClaimRequest, meta: Meta) -> Future[Saved[Claim]]:
        """Check a claim now (raising its error here), and hand it to the next group commit.

        The Future resolves once the claim's transaction committed, to the claim and the
        position of its last event (or of the new topic it names, if later), or fails with
        this claim's own error (ClaimExists, Conflict) or the group's (the database is down).
        Without group commit the claim is saved here, in a transaction of its own.
        """
        command = RecordClaim.of(command)
        lookups = Lookups()
        self._look_up_all([command], lookups)
        claim, new = self._new_claim(command, meta, lookups)
        done: Future[Saved[Claim]] = Future()
        if not new:
            done.set_result(Saved(claim, None))
            return done
        topics = [event for topic in new if topic is not claim for event in topic.collect_events()]
        pending = PendingClaim(claim, list(claim.collect_events()), topics)
        if self._pipeline is not None:
            return self._pipeline.submit(pending)
        done.set_result(self.save_pending(pending))
        return done

    def save_pending(self, pending: PendingClaim) -> Saved[Claim]:
        """Save one checked claim in a transaction of its own (a topic defined meanwhile is not defined again).

        A claim that cannot be stored (a text no encoding holds) is refused naming its field;
        a concurrent write that clashed is named by ``ClaimExists`` or ``Conflict``.
        """
        topic_events = [e for e in pending.topic_events if e.originator_id not in self.repository]
        try:
            position = self._save_checked(lambda: self._check_claim_new(pending.claim), *pending.events, *topic_events)
        except (UnicodeError, TypeError, ValueError) as e:
            raise self._unstorable(pending.claim, e) from e
        return Saved(pending.claim, position)

    def _unstorable(self, claim: Claim, error: Exception) -> InvalidRequest:
        """The error for a claim whose events cannot be encoded, naming the first field that cannot."""
        for name, value in claim.asserted().items():
            try:
                self.mapper.transcoder.encode(value)
            except (UnicodeError, TypeError, ValueError) as e:
                return InvalidRequest(f"{name} cannot be stored: {e}", field=name)
        return InvalidRequest(f"the claim cannot be stored: {error}", field=None)

    def record_claims(self, items: Sequence[ClaimRequest], meta: Meta) -> Saved[list[Claim]]:
        """Record many claims in one transaction: all of them, or (naming each bad item) none."""
        commands = [RecordClaim.of(item) for item in items]
        claims: list[Claim] = []
        new: list[Recorded] = []
        errors: list[dict[str, Any]] = []
        lookups = Lookups()
        self._look_up_all(commands, lookups)
        seen: dict[UUID, int] = {}
        fresh = fresh_ids(sum(command.id is None for command in commands))
        for index, command in enumerate(commands):
            try:
                claim, aggregates = self._new_claim(command, meta, lookups, None if command.id else next(fresh))
                if claim.id in seen:
                    raise ClaimExists(f"id repeats item {seen[claim.id]} of this batch", field="id")
                seen[claim.id] = index
            except DomainError as e:
                errors.append({"index": index, "field": e.field, "reason": e.detail, **e.extra})
                continue
            claims.append(claim)
            new.extend(aggregates)
        if errors:
            raise BatchRejected(errors)
        if not new:
            return Saved(claims, None)

        def check() -> None:
            for claim in claims:
                self._check_claim_new(claim)

        try:
            return Saved(claims, self._save_checked(check, *new, many=True))
        except (UnicodeError, TypeError, ValueError) as e:
            refused = []
            for index, claim in enumerate(claims):
                problem = self._unstorable(claim, e)
                if problem.field is not None:
                    refused.append({"index": index, "field": problem.field, "reason": problem.detail})
            if refused:
                raise BatchRejected(refused) from e
            raise

    def get_claim(self, claim_id: UUID, *, version: int | None = None, as_of: datetime | None = None) -> Claim:
        """A claim now, at a version, or as it was recorded at time ``as_of``."""
        if as_of is not None:
            versions = [e.originator_version for e in self.events.get(claim_id) if e.timestamp <= as_of]
            if not versions:
                raise ClaimNotFound(f"claim {claim_id} was not recorded by {as_of.isoformat()}")
            version = versions[-1] if version is None else min(version, versions[-1])
        try:
            claim = self.repository.get(claim_id, version=version)
        except AggregateNotFoundError:
            raise ClaimNotFound(f"no claim has id {claim_id}") from None
        if not isinstance(claim, Claim):
            raise ClaimNotFound(f"no claim has id {claim_id}")
        if version is not None and claim.version < version:
            raise ClaimNotFound(f"claim {claim_id} has no version {version}; it is at version {claim.version}")
        return claim

    def claim_history(self, claim_id: UUID) -> list[Any]:
        """Every event of a claim, first to last."""
        self.get_claim(claim_id)
        return list(self.events.get(claim_id))

    def correct_claim(  # noqa: PLR0913
        self,
        claim_id: UUID,
        expected_version: int,
        changes: dict[str, Any],
        reason: str,
        meta: Meta,
    ) -> Saved[Claim]:
        """Change asserted fields of the claim at ``expected_version`` (else StaleVersion)."""
        claim = self.get_claim(claim_id)
        if claim.version != expected_version:
            raise StaleVersion(
                f"claim {claim_id} is at version {claim.version}, not {expected_version}",
                current_version=claim.version,
            )
        changes = dict(changes)
        new_topics: list[Recorded] = []
        for name in _PARTY_FIELDS:
            if name in changes:
                changes[name] = self._party_refs(name, changes[name])
        if "topic" in changes:
            topic = self._topic_for_claim(changes["topic"], meta, Lookups())
            if topic is not None:
                new_topics.append(topic)
        claim.correct(changes, reason, meta)
        try:
            return Saved(claim, self._save(claim, *new_topics))
        except RecordConflictError:
            current = self.get_claim(claim_id)
            raise StaleVersion(
                f"claim {claim_id} changed meanwhile; it is at version {current.version}",
                current_version=current.version,
            ) from None

    def corroborate_claim(  # noqa: PLR0913
        self, claim_id: UUID, by: str, source: dict[str, Any] | None, note: str | None, meta: Meta
    ) -> Saved[Claim]:
        """Record that a party backs the claim up."""
        party = self.resolve_party(by, field="by").slug
        return self._amend(claim_id, lambda claim: claim.corroborate(party, source, note, meta))

    def dispute_claim(  # noqa: PLR0913
        self,
        claim_id: UUID,
        by: str,
        source: dict[str, Any] | None,
        note: str | None,
        counter_claim: UUID | None,
        meta: Meta,
    ) -> Saved[Claim]:
        """Record that a party contradicts the claim."""
        party = self.resolve_party(by, field="by").slug
        counter = None
        if counter_claim is not None:
            counter = str(self._existing_claim(counter_claim, field="counter_claim").id)
        return self._amend(claim_id, lambda claim: claim.dispute(party, source, note, counter, meta))

    def retract_claim(self, claim_id: UUID, reason: str, source: dict[str, Any] | None, meta: Meta) -> Saved[Claim]:
        """Withdraw a claim."""
        return self._amend(claim_id, lambda claim: claim.retract(reason, source, meta))

    def supersede_claim(self, claim_id: UUID, by_claim: UUID, reason: str | None, meta: Meta) -> Saved[Claim]:
        """Replace a claim by another, existing one."""
        successors: list[str] = []
        if by_claim != claim_id:
            successors = supersession_chain(self._existing_claim(by_claim, field="by_claim"), self.get_claim)
        return self._amend(claim_id, lambda claim: claim.supersede(str(by_claim), reason, meta, successors))

    # -- verdicts (issue 13) --

    def review_claim(  # noqa: PLR0913
        self, claim_id: UUID, by: str, rating: str, note: str | None, sources: list[str], meta: Meta
    ) -> Saved[Claim]:
        """Record a reviewer's verdict on a claim (retracted or not); it supersedes the reviewer's earlier one."""
        party = self.resolve_party(by, field="by").slug
        return self._amend(claim_id, lambda claim: claim.review(party, rating, note, sources, meta))

    def _amend(self, claim_id: UUID, command: Callable[[Claim], None]) -> Saved[Claim]:
        def attempt() -> Saved[Claim]:
            claim = self.get_claim(claim_id)
            command(claim)
            return Saved(claim, self._save(claim))

        return self._retrying(attempt)

    def _existing_claim(self, claim_id: UUID, *, field: str) -> Claim:
        try:
            return self.get_claim(claim_id)
        except ClaimNotFound:
            raise UnknownClaim(f"no claim has id {claim_id}", field=field) from None

    def _new_claim(
        self, command: RecordClaim, meta: Meta, seen: Lookups, fresh_id: UUID | None = None
    ) -> tuple[Claim, list[Recorded]]:
        """The Claim a request asks for, and what to save with it (empty if it exists as asked).

        Its id: the request's, else ``fresh_id``, else a new random id."""
        fields = command.asserted()
        for name in _PARTY_FIELDS:
            fields[name] = self._party_refs(name, fields[name], seen)
        check_speakers(fields["speaker"], fields["co_speakers"])
        topic = self._topic_for_claim(command.topic, meta, seen)
        claim = Claim.assert_new(command.id or fresh_id or new_id(), meta, **fields)
        existing = self._find_claim(command.id) if command.id else None  # a new uuid4 exists nowhere yet
        if existing is not None:
            if existing.asserted() == claim.asserted():
                return existing, []
            raise ClaimExists(f"claim {command.id} exists with other content", field="id")
        return claim, [claim] if topic is None else [claim, topic]

    def _check_claim_new(self, claim: Claim) -> None:
        existing = self._find_claim(claim.id)
        if existing is not None and existing.asserted() != claim.asserted():
            raise ClaimExists(f"claim {claim.id} exists with other content", field="id")

    def _find_claim(self, claim_id: UUID) -> Claim | None:
        try:
            claim = self.repository.get(claim_id)
        except AggregateNotFoundError:
            return None
        return claim if isinstance(claim, Claim) else None

    def _party_refs(self, name: str, value: Any, seen: Lookups | None = None) -> Any:
        """Party ids for the names a request gives (speaker, co_speakers, about)."""
        seen = seen or Lookups()
        if value is None:
            return None
        if isinstance(value, list):
            return [self._party_id(v, f"{name}[{i}]", seen) for i, v in enumerate(value)]  # repeats: check_speakers
        return self._party_id(value, name, seen)

    def _party_id(self, name: str, field: str, seen: Lookups) -> str:
        if name not in seen.parties:
            seen.parties[name] = self.resolve_party(name, field=field).slug
        return seen.parties[name]

    def _topic_for_claim(self, slug: str, meta: Meta, seen: Lookups) -> Topic | None:
        """A new Topic (title = slug) when a claim names an unknown one (once per request), else None."""
        if slug in seen.topics:
            return None
        new = None if self.names.defined_topics([slug]) else Topic(slug=slug, title=slug, description=None, meta=meta)
        seen.topics[slug] = new
        return new

    def _look_up_all(self, commands: list[RecordClaim], seen: Lookups) -> None:
        """Resolve every party and topic the commands name at once (the directory reads what it does
        not know in a query or two, not three per claim). A name that names no party is left out, so
        the claim naming it fails in ``_party_id``, with its candidates."""
        self.names.resolve({name for command in commands for name in command.names()}, seen)
        slugs = {command.topic for command in commands} - seen.topics.keys()
        seen.topics.update((slug, None) for slug in self.names.defined_topics(slugs))  # nothing to define
