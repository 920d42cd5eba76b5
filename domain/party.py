"""Parties (anyone whose statements are tracked) and the index that keeps aliases unique."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import Meta, Recorded, stream_id
from domain.errors import AliasTaken, InvalidMerge, InvalidRequest, PartyAlreadyMerged

PARTY_KINDS = ("state", "government", "person", "organization", "media", "other")
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
UPDATABLE = ("name", "kind", "affiliation")


class Party(Recorded):
    """A party, its aliases, and whether it has been merged into another."""

    @staticmethod
    def create_id(slug: str) -> UUID:
        return stream_id("party", slug)

    @event("PartyRegistered")
    def __init__(  # noqa: PLR0913
        self,
        slug: str,
        name: str,
        kind: str,
        affiliation: str | None,
        aliases: list[str],
        meta: dict[str, str],
    ) -> None:
        self.slug = slug
        self.name = name
        self.kind = kind
        self.affiliation = affiliation
        self.aliases = list(aliases)
        self.merged_into: str | None = None

    def add_alias(self, alias: str, meta: Meta) -> None:
        """Another name for the party (its uniqueness is the AliasIndex's job)."""
        if alias in self.aliases:
            raise AliasTaken(f"{alias!r} is already an alias of {self.slug}", field="alias")
        self._add_alias(alias=alias, meta=meta)

    @event("PartyAliasAdded")
    def _add_alias(self, alias: str, meta: dict[str, str]) -> None:
        self.aliases.append(alias)

    def update(self, changes: dict[str, Any], reason: str | None, meta: Meta) -> None:
        """Change name, kind or affiliation (the application checks the affiliation)."""
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise InvalidRequest(
                f"a party has no updatable field {', '.join(unknown)}; updatable: {', '.join(UPDATABLE)}",
                field=f"changes.{unknown[0]}",
            )
        if not changes or all(getattr(self, k) == v for k, v in changes.items()):
            raise InvalidRequest("the changes leave the party as it is", field="changes")
        self._update(changes=changes, reason=reason, meta=meta)

    @event("PartyUpdated")
    def _update(self, changes: dict[str, Any], reason: str | None, meta: dict[str, str]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    def merge(self, into: Party, reason: str | None, meta: Meta, into_affiliations: Sequence[str] = ()) -> None:
        """Fold this duplicate into ``into``: its claims count for the survivor from now on.

        ``into_affiliations``: the parties ``into`` is affiliated with, up the chain, merges
        followed (``affiliation_chain``). This party may not be among them: merged, it would be
        ``into`` itself, and ``into`` its own affiliate (the cycle an update of the affiliation
        refuses too).
        """
        if self.merged_into is not None:
            raise PartyAlreadyMerged(f"{self.slug} is already merged into {self.merged_into}")
        if into.slug == self.slug:
            raise InvalidMerge("a party cannot be merged into itself", field="into")
        if into.merged_into is not None:
            raise InvalidMerge(
                f"{into.slug} is itself merged into {into.merged_into}; merge into {into.merged_into}",
                field="into",
            )
        if self.slug in into_affiliations:
            chain = [into.slug, *into_affiliations[: list(into_affiliations).index(self.slug) + 1]]
            raise InvalidMerge(
                f"{into.slug} is affiliated with {self.slug} ({' -> '.join(chain)}); merged, it would be "
                f"its own affiliate: change the affiliation of {chain[-2]} first",
                field="into",
            )
        self._merge(into=into.slug, reason=reason, meta=meta)

    @event("PartyMerged")
    def _merge(self, into: str, reason: str | None, meta: dict[str, str]) -> None:
        self.merged_into = into


def affiliation_chain(party: Party, get: Callable[[str], Party]) -> list[str]:
    """The parties ``party`` is affiliated with, nearest first, each followed through its merges."""
    chain: list[str] = []
    while party.affiliation is not None:
        party = get(party.affiliation)
        while party.merged_into is not None and party.merged_into not in chain:
            chain.append(party.slug)
            party = get(party.merged_into)
        if party.slug in chain:
            break
        chain.append(party.slug)
    return chain


class AliasIndex(Recorded):
    """One stream per normalised alias, created in the same save as the party taking it.

    Two parties taking the same alias concurrently both try to create this stream's
    first event; the store's uniqueness lets exactly one of them succeed.
    """

    @staticmethod
    def create_id(key: str) -> UUID:
        return stream_id("alias", key)

    @event("AliasReserved")
    def __init__(self, key: str, alias: str, party: str, meta: dict[str, str]) -> None:
        self.key = key
        self.alias = alias
        self.party = party
