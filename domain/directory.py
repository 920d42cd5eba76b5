"""The name directory: the one place a name (a party id or an alias) becomes a party id."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.utils import get_topic

from domain.errors import UnknownParty
from domain.names import normalize_name
from domain.party import SLUG_PATTERN, AliasIndex, Party
from domain.ports import StreamStore, Suggest
from domain.topic import Topic

_SLUG = re.compile(SLUG_PATTERN)
_PARTY_MERGED = get_topic(Party.PartyMerged)  # type: ignore[attr-defined]


@dataclass
class Lookups:
    """What one request has looked up already: a batch names the same parties and topics again and again."""

    parties: dict[str, str] = dataclasses.field(default_factory=dict)  # name as given -> party id
    topics: dict[str, Topic | None] = dataclasses.field(default_factory=dict)  # slug -> the Topic it defines, or None


class PartyDirectory:
    """Names to party ids, and topics known to exist, remembered per process.

    A party's id, and an alias once reserved, name the same party for ever; a topic, once
    defined, exists for ever: what was read of them is kept. Only a merge changes where a name
    leads: a party's merge is known from reading the party, and merges recorded since (by any
    process) are read from the log at most ``fresh_for`` seconds later, all in one query (at
    once, for this process's own, through ``saw``). So a name resolved within that second of a
    merge made by another process names the merged party, not its survivor; reads count both
    as one.

    Everything unknown is read in one or two queries (``StreamStore.select_streams``), however
    many names a batch gives. ``resolve`` (a whole request's names) and ``party`` (one name) are
    the same path.
    """

    def __init__(self, store: StreamStore, to_event: Callable[[Any], Any], suggest: Suggest, *,
                 fresh_for: float = 1.0) -> None:
        self.store = store
        self.to_event = to_event  # a stored event to its domain event (the application's mapper)
        self.suggest = suggest
        self.fresh_for = fresh_for
        self.names: dict[str, str] = {}  # name as given -> the party it names (before merges)
        self.merges: dict[str, str | None] = {}  # party read -> merged into
        self.topics: set[str] = set()
        self.merges_up_to: int | None = None  # the log position up to which merges are known
        self.merges_read_at = 0.0

    # -- what the use cases ask --------------------------------------------------------

    def party(self, name: str, *, field: str = "name", follow_merges: bool = True) -> Party:
        """The party a name means (id or alias), through merges to the survivor unless told not to."""
        if follow_merges:
            slug = self.resolve([name]).get(name)
        else:
            self._learn([name])
            slug = self.names.get(name)
        party = self.get_many([Party.create_id(slug)]).get(Party.create_id(slug)) if slug else None
        if not isinstance(party, Party):
            raise UnknownParty(f"no party is called {name!r}", field=field, name=name, candidates=self.suggest(name))
        return party

    def resolve(self, names: Iterable[str], seen: Lookups | None = None) -> dict[str, str]:
        """The survivor's id for each name that names a party (those that name none are left out)."""
        seen = seen if seen is not None else Lookups()
        wanted = {name for name in names if name not in seen.parties}
        self._learn(wanted)
        self._read_new_merges()
        absent: set[str] = set()  # parties an alias names that do not exist (no store makes them: defensive)
        while True:  # follow merges, reading the parties not read yet
            walks = {name: self._survivor(self.names[name]) for name in wanted if name in self.names}
            unread = {stale for _, stale in walks.values() if stale is not None} - absent
            if not unread:
                break
            loaded = [p for p in self.get_many([Party.create_id(s) for s in unread]).values() if isinstance(p, Party)]
            self.saw(loaded)
            absent |= unread - {p.slug for p in loaded}
        seen.parties.update((name, survivor) for name, (survivor, stale) in walks.items() if stale is None)
        return seen.parties

    def defined_topics(self, slugs: Iterable[str]) -> set[str]:
        """Those of these topic slugs that are defined (in the store, as far as this process knows)."""
        slugs = set(slugs)
        unknown = slugs - self.topics
        if unknown:
            found = self.get_many([Topic.create_id(s) for s in unknown])
            self.topics.update(s for s in unknown if isinstance(found.get(Topic.create_id(s)), Topic))
        return slugs & self.topics

    def saw(self, parties: Iterable[Party]) -> None:
        """Learn where these parties lead now (a merge this process made is followed at once)."""
        for party in parties:
            self.merges[party.slug] = party.merged_into

    def get_many(self, ids: list[UUID]) -> dict[UUID, Any]:
        """The aggregates with these ids that exist, read in one query."""
        streams: dict[UUID, list[Any]] = {}
        for stored in self.store.select_streams(list(dict.fromkeys(ids))):
            streams.setdefault(stored.originator_id, []).append(self.to_event(stored))
        return {aggregate_id: project_aggregate(None, events) for aggregate_id, events in streams.items()}

    # -- how ---------------------------------------------------------------------------

    def _learn(self, names: Iterable[str]) -> None:
        """Read the names not known yet, all at once: a party with that id, else the alias index's party."""
        unknown = [name for name in names if name not in self.names]
        if not unknown:
            return
        found = self.get_many(
            [Party.create_id(n) for n in unknown if _SLUG.match(n)]
            + [AliasIndex.create_id(normalize_name(n)) for n in unknown]
        )
        self.saw(p for p in found.values() if isinstance(p, Party))
        for name in unknown:
            party = found.get(Party.create_id(name)) if _SLUG.match(name) else None
            index = found.get(AliasIndex.create_id(normalize_name(name)))
            if isinstance(party, Party):
                self.names[name] = party.slug
            elif isinstance(index, AliasIndex):
                self.names[name] = index.party

    def _survivor(self, slug: str) -> tuple[str, str | None]:
        """Where ``slug`` leads through known merges, and the party to read first (None: nothing to read)."""
        chain = [slug]
        while slug in self.merges:
            into = self.merges[slug]
            if into is None or into in chain:  # unmerged (or a cycle no command can make)
                return slug, None
            slug = into
            chain.append(slug)
        return slug, slug

    def _read_new_merges(self) -> None:
        """Learn the merges recorded since the last look (at most once every ``fresh_for`` seconds)."""
        now = time.monotonic()
        # Read once: request threads look at the same time, and another may move it on meanwhile
        # (read twice, a head older than the other's gave a negative LIMIT: a 500 under load).
        up_to = self.merges_up_to
        if up_to is not None and now - self.merges_read_at < self.fresh_for:
            return
        head = self.store.max_notification_id() or 0
        if up_to is not None and head > up_to:
            slugs = {Party.create_id(slug): slug for slug in self.merges}
            merged = self.store.select_notifications(
                start=up_to, limit=head - up_to, stop=head, topics=[_PARTY_MERGED], inclusive_of_start=False,
            )
            for notification in merged:
                event = self.to_event(notification)
                if event.originator_id in slugs:
                    self.merges[slugs[event.originator_id]] = event.into
        if self.merges_up_to is None or head > self.merges_up_to:  # never back to an older head
            self.merges_up_to = head
        self.merges_read_at = now
