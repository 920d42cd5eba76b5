"""The use cases: what a client can ask of the claims record."""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import RecordConflictError
from eventsourcing.utils import get_topic

from domain.base import Meta, Recorded
from domain.claim import Claim
from domain.errors import (
    BatchRejected,
    ClaimExists,
    ClaimNotFound,
    Conflict,
    DomainError,
    InvalidAffiliation,
    PartyExists,
    PartyNotFound,
    StaleVersion,
    TopicNotFound,
    UnknownClaim,
    UnknownParty,
    AliasTaken,
)
from domain.group_commit import GroupCommitter
from domain.names import normalize_name
from domain.party import SLUG_PATTERN, AliasIndex, Party
from domain.topic import Topic

T = TypeVar("T")
_SLUG = re.compile(SLUG_PATTERN)
# Fields of a claim that name parties, as a request names them (id or alias).
_PARTY_FIELDS = ("speaker", "co_speakers", "about")
# What a claim has when a request leaves it out.
_CLAIM_DEFAULTS: dict[str, Any] = {
    "co_speakers": list,
    "about": None,
    "kind": "statement",
    "verbatim": False,
    "position": None,
    "facts": dict,
}
_PARTY_MERGED = get_topic(Party.PartyMerged)  # type: ignore[attr-defined]
# How often a command without If-Match is retried when a concurrent write got in first.
_RETRIES = 12


@dataclass
class _Lookups:
    """What one request has looked up already: a batch names the same parties and topics again and again."""

    parties: dict[str, str] = dataclasses.field(default_factory=dict)  # name as given -> party id
    topics: dict[str, Topic | None] = dataclasses.field(default_factory=dict)  # slug -> the Topic it defines, or None


@dataclass
class _Known:
    """What this process has read about names that stays true; requests look names up here first.

    A party's id, and an alias once reserved, name the same party for ever; a topic, once
    defined, exists for ever. Only a merge changes where a name leads: a party's merge is
    known from reading the party, and merges recorded since (by any process) are read from
    the log at most ``fresh_for`` seconds later, all in one query (at once, for this process's
    own). So a claim recorded within that second of a merge made by another process names
    the merged party, not its survivor; reads count both as one.
    """

    fresh_for: float = 1.0
    names: dict[str, str] = dataclasses.field(default_factory=dict)  # name as given -> the party it names
    merges: dict[str, str | None] = dataclasses.field(default_factory=dict)  # party read -> merged into
    topics: set[str] = dataclasses.field(default_factory=set)
    merges_up_to: int | None = None  # the log position up to which merges are known
    merges_read_at: float = 0.0

    def saw(self, parties: Iterable[Party]) -> None:
        for party in parties:
            self.merges[party.slug] = party.merged_into

    def survivor(self, slug: str) -> tuple[str, str | None]:
        """Where ``slug`` leads through known merges, and the party to read first (None: nothing to read)."""
        chain = [slug]
        while slug in self.merges:
            into = self.merges[slug]
            if into is None or into in chain:  # unmerged (or a cycle no command can make)
                return slug, None
            slug = into
            chain.append(slug)
        return slug, slug


@dataclass(frozen=True)
class Saved(Generic[T]):
    """What a write produced, and the global log position of its last event (None: nothing new)."""

    value: T
    position: int | None


@dataclass(frozen=True)
class _NewClaim:
    """A validated claim waiting for its group's commit: its events, and those of the topic it defines."""

    claim: Claim
    events: list[Any]
    topic_events: list[Any]


class ClaimsApplication(Application[UUID]):
    """Parties, topics and claims, recorded as events."""

    name = "claims"

    # Finds "did you mean" candidates for a name no party has; the read side plugs in here.
    suggest_parties: Callable[[str], list[dict[str, Any]]] = staticmethod(lambda name: [])
    # Told the number of claims each group commit saved; a metric plugs in here.
    on_group_commit: Callable[[int], None] = staticmethod(lambda size: None)

    def __init__(
        self, env: Mapping[str, str] | None = None, *, group_commit: bool = True, group_commit_max: int = 500
    ) -> None:
        """``group_commit``: concurrent ``record_claim`` calls share transactions of up to
        ``group_commit_max`` claims; off, each call is a transaction of its own."""
        super().__init__(env)
        self._known = _Known()
        self._committer: GroupCommitter[_NewClaim, Saved[Claim]] | None = None
        if group_commit:
            self._committer = GroupCommitter(
                self._commit_claims,
                max_items=group_commit_max,
                on_group=lambda size: self.on_group_commit(size),
                name=f"{self.name}-group-commit",
            )

    @property
    def group_commit(self) -> bool:
        """Whether ``submit_claim`` hands claims to a group commit (else it saves them itself, at once)."""
        return self._committer is not None

    def close(self) -> None:
        """Commit the claims already handed over, stop the group committer, close the store."""
        committer = getattr(self, "_committer", None)
        if committer is not None:
            committer.close()
        super().close()

    # -- parties ---------------------------------------------------------------------

    def register_party(  # noqa: PLR0913
        self,
        slug: str,
        name: str,
        kind: str,
        affiliation: str | None,
        aliases: Iterable[str],
        meta: Meta,
    ) -> Saved[Party]:
        """Register a party; its name and aliases must belong to no other party."""
        aliases = _unique(aliases)
        if affiliation is not None:
            affiliation = self._affiliation(slug, affiliation)
        party = Party(slug=slug, name=name, kind=kind, affiliation=affiliation, aliases=aliases, meta=meta)

        def check() -> None:
            if self._find(Party, slug) is not None:
                raise PartyExists(f"a party with id {slug!r} exists", field="id")
            self._check_names_free(slug, [name, *aliases])

        check()
        reservations = self._reserve(slug, [name, *aliases], meta)
        return Saved(party, self._save_checked(check, party, *reservations))

    def add_alias(self, slug: str, alias: str, meta: Meta) -> Saved[Party]:
        """Give a party another name."""
        party = self.get_party(slug)
        party.add_alias(alias, meta)

        def check() -> None:
            self._check_names_free(slug, [alias])

        check()
        return Saved(party, self._save_checked(check, party, *self._reserve(slug, [alias], meta)))

    def update_party(self, slug: str, changes: dict[str, Any], reason: str | None, meta: Meta) -> Saved[Party]:
        """Change a party's name, kind or affiliation."""
        party = self.get_party(slug)
        changes = dict(changes)
        if changes.get("affiliation") is not None:
            changes["affiliation"] = self._affiliation(slug, changes["affiliation"])
        party.update(changes, reason, meta)
        extra: list[Recorded] = []
        if "name" in changes:
            self._check_names_free(slug, [changes["name"]])
            extra = self._reserve(slug, [changes["name"]], meta)
        return Saved(party, self._save_checked(lambda: None, party, *extra))

    def merge_party(self, slug: str, into: str, reason: str | None, meta: Meta) -> Saved[Party]:
        """Merge a duplicate into the party that survives."""
        party = self.get_party(slug)
        survivor = self._party_named(into, field="into")
        party.merge(survivor, reason, meta)
        saved = Saved(party, self._save_checked(lambda: None, party))
        self._known.saw([party])
        return saved

    def get_party(self, slug: str) -> Party:
        party = self._find(Party, slug)
        if party is None:
            raise PartyNotFound(f"no party has id {slug!r}")
        return party

    def resolve_party(self, name: str, *, field: str = "name") -> Party:
        """The party a name means (id or alias), followed through merges to the survivor."""
        party = self._party_named(name, field=field)
        seen = {party.slug}
        while party.merged_into is not None and party.merged_into not in seen:
            seen.add(party.merged_into)
            party = self.get_party(party.merged_into)
        return party

    def _party_named(self, name: str, *, field: str) -> Party:
        party = self._find(Party, name) if _SLUG.match(name) else None
        if party is None:
            index = self._find(AliasIndex, normalize_name(name))
            party = self._find(Party, index.party) if index is not None else None
        if party is None:
            raise UnknownParty(
                f"no party is called {name!r}",
                field=field,
                name=name,
                candidates=self.suggest_parties(name),
            )
        return party

    def _affiliation(self, slug: str, affiliation: str) -> str:
        """Check an affiliation names an unmerged party and closes no cycle; answer its id."""
        try:
            target = self._party_named(affiliation, field="affiliation")
        except UnknownParty as e:
            raise InvalidAffiliation(f"affiliation {affiliation!r} is no registered party", field="affiliation") from e
        if target.merged_into is not None:
            raise InvalidAffiliation(
                f"{target.slug} is merged into {target.merged_into}; affiliate with {target.merged_into}",
                field="affiliation",
            )
        chain, current = [slug], target
        while True:
            if current.slug in chain:
                raise InvalidAffiliation(
                    f"affiliation would form a cycle: {' -> '.join([*chain, current.slug])}",
                    field="affiliation",
                )
            chain.append(current.slug)
            if current.affiliation is None:
                return target.slug
            current = self.get_party(current.affiliation)

    def _check_names_free(self, slug: str, names: Iterable[str]) -> None:
        for name in names:
            index = self._find(AliasIndex, normalize_name(name))
            if index is not None:
                whose = "this party" if index.party == slug else f"party {index.party}"
                raise AliasTaken(f"{name!r} is already a name or alias of {whose}", field="aliases", party=index.party)

    def _reserve(self, slug: str, names: Iterable[str], meta: Meta) -> list[Recorded]:
        keys: dict[str, str] = {}
        for name in names:
            keys.setdefault(normalize_name(name), name)
        return [AliasIndex(key=key, alias=name, party=slug, meta=meta) for key, name in keys.items()]

    # -- topics ----------------------------------------------------------------------

    def get_topic(self, slug: str) -> Topic:
        topic = self._find(Topic, slug)
        if topic is None:
            raise TopicNotFound(f"no topic has id {slug!r}")
        return topic

    def put_topic(self, slug: str, title: str, description: str | None, meta: Meta) -> Saved[Topic]:
        """Define a topic, or set its title and description."""

        def attempt() -> Saved[Topic]:
            topic = self._find(Topic, slug)
            if topic is None:
                topic = Topic(slug=slug, title=title, description=description, meta=meta)
            elif not topic.update(title, description, meta):
                return Saved(topic, None)
            return Saved(topic, self._save(topic))

        return self._retrying(attempt)

    # -- claims ----------------------------------------------------------------------

    def record_claim(self, fields: dict[str, Any], meta: Meta) -> Saved[Claim]:
        """Record one claim; ``fields`` as a request gives them (parties by id or alias).

        Returns once the claim is committed: with group commit, in one transaction with the
        claims recorded concurrently (``submit_claim``), yet failing only with its own error.
        """
        return self.submit_claim(fields, meta).result()

    def submit_claim(self, fields: dict[str, Any], meta: Meta) -> Future[Saved[Claim]]:
        """Check a claim now (raising its error here), and hand it to the next group commit.

        The Future resolves once the claim's transaction committed, to the claim and the
        position of its last event (or of the new topic it names, if later), or fails with
        this claim's own error (ClaimExists, Conflict) or the group's (the database is down).
        Without group commit the claim is saved here, in a transaction of its own.
        """
        lookups = _Lookups()
        self._look_up_all([fields], lookups)
        claim, new = self._new_claim(fields, meta, lookups)
        done: Future[Saved[Claim]] = Future()
        if not new:
            done.set_result(Saved(claim, None))
        elif self._committer is None:
            done.set_result(Saved(claim, self._save_checked(lambda: self._check_claim_new(claim), *new)))
        else:
            topics = [event for topic in new if topic is not claim for event in topic.collect_events()]
            return self._committer.submit(_NewClaim(claim, list(claim.collect_events()), topics))
        return done

    def _commit_claims(self, group: list[_NewClaim]) -> list[Saved[Claim] | BaseException]:
        """Save a group of new claims in one transaction; if anything clashed, each on its own.

        A new topic several claims name is defined once (the first claim's definition), and not
        at all if an earlier transaction defined it since they were checked. Any error but a
        conflict (the database is down) is raised: it is the error of every claim in the group.
        """
        events: list[Any] = []
        defined: set[UUID] = set()  # topics in the store, or defined earlier in this group
        for item in group:
            events.extend(item.events)
            for event in item.topic_events:
                if event.originator_id not in defined and event.originator_id not in self.repository:
                    events.append(event)
                defined.add(event.originator_id)
        try:
            recordings = self.save(*events)
        except RecordConflictError:
            return [self._commit_alone(item) for item in group]
        positions = {
            (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id for r in recordings
        }
        return [Saved(item.claim, max(_positions(positions, item))) for item in group]

    def _commit_alone(self, item: _NewClaim) -> Saved[Claim] | BaseException:
        """One claim of a group that clashed, saved on its own: its own error, if it has one."""
        try:
            topic_events = [e for e in item.topic_events if e.originator_id not in self.repository]  # defined meanwhile
            check = functools.partial(self._check_claim_new, item.claim)
            return Saved(item.claim, self._save_checked(check, *item.events, *topic_events))
        except Exception as e:  # noqa: BLE001  (this claim's outcome, not its neighbours')
            return e

    def record_claims(self, items: list[dict[str, Any]], meta: Meta) -> Saved[list[Claim]]:
        """Record many claims in one transaction: all of them, or (naming each bad item) none."""
        claims: list[Claim] = []
        new: list[Recorded] = []
        errors: list[dict[str, Any]] = []
        lookups = _Lookups()
        self._look_up_all(items, lookups)
        seen: dict[UUID, int] = {}
        for index, fields in enumerate(items):
            try:
                claim, aggregates = self._new_claim(fields, meta, lookups)
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

        return Saved(claims, self._save_checked(check, *new))

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
            topic = self._topic_for_claim(changes["topic"], meta, _Lookups())
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
        if by_claim != claim_id:
            self._existing_claim(by_claim, field="by_claim")
        return self._amend(claim_id, lambda claim: claim.supersede(str(by_claim), reason, meta))

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

    def _new_claim(self, fields: dict[str, Any], meta: Meta, seen: _Lookups) -> tuple[Claim, list[Recorded]]:
        """The Claim a request asks for, and what to save with it (empty if it exists as asked)."""
        fields = dict(fields)
        given_id = fields.pop("id", None)
        for name, default in _CLAIM_DEFAULTS.items():
            fields.setdefault(name, default() if callable(default) else default)
        for name in _PARTY_FIELDS:
            fields[name] = self._party_refs(name, fields[name], seen)
        topic = self._topic_for_claim(fields["topic"], meta, seen)
        claim = Claim(id=given_id or uuid4(), meta=meta, **fields)
        existing = self._find_claim(given_id) if given_id else None  # a new uuid4 exists nowhere yet
        if existing is not None:
            if existing.asserted() == claim.asserted():
                return existing, []
            raise ClaimExists(f"claim {given_id} exists with other content", field="id")
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

    def _party_refs(self, name: str, value: Any, seen: _Lookups | None = None) -> Any:
        """Party ids for the names a request gives (speaker, co_speakers, about)."""
        seen = seen or _Lookups()
        if value is None:
            return None
        if isinstance(value, list):
            return _unique([self._party_id(v, f"{name}[{i}]", seen) for i, v in enumerate(value)])
        return self._party_id(value, name, seen)

    def _party_id(self, name: str, field: str, seen: _Lookups) -> str:
        if name not in seen.parties:
            seen.parties[name] = self.resolve_party(name, field=field).slug
        return seen.parties[name]

    def _topic_for_claim(self, slug: str, meta: Meta, seen: _Lookups) -> Topic | None:
        """A new Topic (title = slug) when a claim names an unknown one (once per request), else None."""
        if slug in seen.topics:
            return None
        new = None if self._find(Topic, slug) is not None else Topic(slug=slug, title=slug, description=None, meta=meta)
        seen.topics[slug] = new
        return new

    def _look_up_all(self, items: list[dict[str, Any]], seen: _Lookups) -> None:
        """Resolve every party and topic the items name at once, from what this process knows, else in a
        query or two (not three per claim as one name at a time would).

        Fills ``seen`` as ``_party_id`` and ``_topic_for_claim`` would, one name at a time, with
        the same rules (an id, else an alias; followed through merges). A name it cannot
        resolve is left out, so the claim naming it fails as before, with its candidates.
        """
        known = self._known
        names = {
            name
            for fields in items
            for field in _PARTY_FIELDS
            for name in (fields.get(field) if isinstance(fields.get(field), list) else [fields.get(field)])
            if isinstance(name, str) and name not in seen.parties
        }
        slugs = {fields["topic"] for fields in items if isinstance(fields.get("topic"), str)} - seen.topics.keys()
        seen.topics.update((slug, None) for slug in slugs & known.topics)  # defined already: nothing to add
        slugs -= known.topics
        unknown = [name for name in names if name not in known.names]
        if slugs or unknown:
            found = self._get_many(
                [Topic.create_id(s) for s in slugs]
                + [Party.create_id(n) for n in unknown if _SLUG.match(n)]
                + [AliasIndex.create_id(normalize_name(n)) for n in unknown]
            )
            for slug in slugs:
                if isinstance(found.get(Topic.create_id(slug)), Topic):
                    known.topics.add(slug)
                    seen.topics[slug] = None
            known.saw(p for p in found.values() if isinstance(p, Party))
            for name in unknown:
                party = found.get(Party.create_id(name)) if _SLUG.match(name) else None
                index = found.get(AliasIndex.create_id(normalize_name(name)))
                if isinstance(party, Party):
                    known.names[name] = party.slug
                elif isinstance(index, AliasIndex):
                    known.names[name] = index.party
        self._read_new_merges()
        absent: set[str] = set()  # parties an alias names that do not exist (no store makes them: defensive)
        while True:  # follow merges, reading the parties not read yet
            walks = {name: known.survivor(known.names[name]) for name in names if name in known.names}
            wanted = {unread for _, unread in walks.values() if unread is not None} - absent
            if not wanted:
                break
            loaded = [p for p in self._get_many([Party.create_id(s) for s in wanted]).values() if isinstance(p, Party)]
            known.saw(loaded)
            absent |= wanted - {p.slug for p in loaded}
        for name, (survivor, stale) in walks.items():
            if stale is None:
                seen.parties[name] = survivor

    def _read_new_merges(self) -> None:
        """Learn the merges recorded since the last look (at most once every ``fresh_for`` seconds)."""
        known, now = self._known, time.monotonic()
        if known.merges_up_to is not None and now - known.merges_read_at < known.fresh_for:
            return
        head = self.recorder.max_notification_id() or 0
        if known.merges_up_to is not None and head > known.merges_up_to:
            slugs = {Party.create_id(slug): slug for slug in known.merges}
            merged = self.recorder.select_notifications(
                start=known.merges_up_to, limit=head - known.merges_up_to, stop=head,
                topics=[_PARTY_MERGED], inclusive_of_start=False,
            )
            for notification in merged:
                event = self.mapper.to_domain_event(notification)
                if event.originator_id in slugs:
                    known.merges[slugs[event.originator_id]] = event.into
        known.merges_up_to, known.merges_read_at = head, now

    def _get_many(self, ids: list[UUID]) -> dict[UUID, Any]:
        """The aggregates with these ids that exist, read in one query when the store can."""
        select = getattr(self.recorder, "select_streams", None)
        if select is None:  # a store without it (the in-memory one of the unit tests): one by one
            found = {}
            for aggregate_id in ids:
                try:
                    found[aggregate_id] = self.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    pass
            return found
        streams: dict[UUID, list[Any]] = {}
        for stored in select(list(dict.fromkeys(ids))):
            streams.setdefault(stored.originator_id, []).append(self.mapper.to_domain_event(stored))
        return {aggregate_id: project_aggregate(None, events) for aggregate_id, events in streams.items()}

    # -- plumbing ----------------------------------------------------------------------

    def _find(self, cls: type[T], key: str) -> T | None:
        try:
            found = self.repository.get(cls.create_id(key))  # type: ignore[attr-defined]
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def _save(self, *aggregates: Any) -> int | None:
        """Save aggregates (or events already collected from them); the position of the last event."""
        recordings = self.save(*aggregates)
        return max((r.notification.id for r in recordings), default=None)

    def _save_checked(self, check: Callable[[], None], *aggregates: Any) -> int | None:
        """Save; when a concurrent write got in first, run ``check`` to say what clashed."""
        try:
            return self._save(*aggregates)
        except RecordConflictError:
            check()
            raise Conflict("a concurrent write changed what this request depends on; try again") from None

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """Run a read-decide-write attempt again when a concurrent write to its stream got in first."""
        for tries in range(1, _RETRIES + 1):
            try:
                return attempt()
            except RecordConflictError:
                time.sleep(random.uniform(0, 0.005 * tries))  # noqa: S311  (jitter, not crypto)
        raise Conflict("too many concurrent writes to the same stream; try again")


def _positions(positions: dict[tuple[UUID, int], int], item: _NewClaim) -> Iterator[int]:
    """The positions of a claim's events, and of its new topic's if this transaction defined it."""
    for event in item.events + item.topic_events:
        position = positions.get((event.originator_id, event.originator_version))
        if position is not None:
            yield position


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
