"""The use cases of parties and topics: register, name, merge, define."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.base import Meta, Recorded
from domain.errors import AliasTaken, InvalidAffiliation, PartyExists, PartyNotFound, TopicNotFound, UnknownParty
from domain.names import distinct_names, normalize_name
from domain.party import AliasIndex, Party, affiliation_chain
from domain.topic import Topic
from domain.use_cases import Saved, UseCases


class PartyCases(UseCases):
    """Parties (with their names and merges) and topics."""

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
        aliases = distinct_names([name, *aliases])[1:]  # one spelling per normalised key
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
        spelling_of_name = normalize_name(changes.get("name", "")) == normalize_name(party.name)
        changes = dict(changes)
        if changes.get("affiliation") is not None:
            changes["affiliation"] = self._affiliation(slug, changes["affiliation"])
        party.update(changes, reason, meta)
        extra: list[Recorded] = []
        if "name" in changes and not spelling_of_name:  # another spelling of its name: reserved already
            self._check_names_free(slug, [changes["name"]])
            extra = self._reserve(slug, [changes["name"]], meta)
        return Saved(party, self._save_checked(lambda: None, party, *extra))

    def merge_party(self, slug: str, into: str, reason: str | None, meta: Meta) -> Saved[Party]:
        """Merge a duplicate into the party that survives."""
        party = self.get_party(slug)
        survivor = self.names.party(into, field="into", follow_merges=False)
        party.merge(survivor, reason, meta, affiliation_chain(survivor, self.get_party))
        saved = Saved(party, self._save_checked(lambda: None, party))
        self.names.saw([party])
        return saved

    def get_party(self, slug: str) -> Party:
        party = self._find(Party, slug)
        if party is None:
            raise PartyNotFound(f"no party has id {slug!r}")
        return party

    def resolve_party(self, name: str, *, field: str = "name") -> Party:
        """The party a name means (id or alias), followed through merges to the survivor."""
        return self.names.party(name, field=field)

    def _affiliation(self, slug: str, affiliation: str) -> str:
        """Check an affiliation names an unmerged party and closes no cycle; answer its id."""
        try:
            target = self.names.party(affiliation, field="affiliation", follow_merges=False)
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
