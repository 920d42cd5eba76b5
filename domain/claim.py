"""The Claim aggregate: one statement, attributed to a speaker, reported by a source."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import Meta, Recorded
from domain.errors import (
    ClaimAlreadyRetracted,
    ClaimAlreadySuperseded,
    ClaimRetracted,
    InvalidCorrection,
    InvalidRequest,
    InvalidSupersession,
)

CLAIM_KINDS = ("statement", "denial", "report", "assessment")
STANCES = ("positive", "negative", "neutral", "mixed")
STATUSES = ("active", "retracted", "superseded")
# A reviewer's verdict on a claim, most to least true (then the two that say no rating fits).
RATINGS = ("true", "mostly-true", "mixed", "mostly-false", "false", "misleading", "unverifiable")
# The fields a correction may change: everything the claim asserted.
CORRECTABLE = (
    "speaker",
    "co_speakers",
    "about",
    "topic",
    "kind",
    "text",
    "language",
    "verbatim",
    "stance",
    "position",
    "stated_at",
    "source",
    "facts",
)


class Claim(Recorded):
    """A statement and what happened to it since: corrections, corroborations, disputes, its end."""

    class ClaimAsserted(Recorded.Created):
        """A claim was recorded. Declared (not derived from ``__init__``) to carry a class version.

        The library uses a class declared under the event's name as it is: it does not add
        fields from ``__init__``'s signature, so they are listed here and must match it.
        Version 1 (stored before claims had facts) has no ``facts``; ``upcast_v1_v2`` fills it
        in when such an event is read. A stored event without ``class_version`` counts as
        version 1, and that includes every event stored before versions were declared, most of
        which already have facts: the upcast only adds what is missing, never overwrites.
        """

        class_version = 2

        speaker: str
        co_speakers: list[str]
        topic: str
        text: str
        language: str
        verbatim: bool
        stance: str
        position: str | None
        kind: str
        stated_at: str
        source: dict[str, Any]
        about: str | None
        facts: dict[str, Any]
        meta: dict[str, str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("facts", {})

    @event(ClaimAsserted)
    def __init__(  # noqa: PLR0913
        self,
        id: UUID,  # noqa: A002  (chosen by the application, or by the client)
        speaker: str,
        co_speakers: list[str],
        topic: str,
        text: str,
        language: str,
        verbatim: bool,
        stance: str,
        position: str | None,
        kind: str,
        stated_at: str,
        source: dict[str, Any],
        about: str | None,
        facts: dict[str, Any],
        meta: dict[str, str],
    ) -> None:
        self.speaker = speaker
        self.co_speakers = list(co_speakers)
        self.topic = topic
        self.text = text
        self.language = language
        self.verbatim = verbatim
        self.stance = stance
        self.position = position
        self.kind = kind
        self.stated_at = stated_at
        self.source = dict(source)
        self.about = about
        self.facts = dict(facts)
        self.status = "active"
        self.corroborations: list[dict[str, Any]] = []
        self.disputes: list[dict[str, Any]] = []
        self.superseded_by: str | None = None
        self.retraction: dict[str, Any] | None = None
        self.reviews: list[dict[str, Any]] = []

    def asserted(self) -> dict[str, Any]:
        """The claim's assertable fields as they stand now."""
        return {name: getattr(self, name) for name in CORRECTABLE}

    # Corrections

    def correct(self, changes: dict[str, Any], reason: str, meta: Meta) -> None:
        """Change some asserted fields, saying why."""
        self._check_not_retracted("corrected")
        unknown = sorted(set(changes) - set(CORRECTABLE))
        if unknown:
            raise InvalidCorrection(
                f"a claim has no field {', '.join(unknown)}; correctable: {', '.join(CORRECTABLE)}",
                field=f"changes.{unknown[0]}",
            )
        if not changes:
            raise InvalidCorrection("changes must name at least one field", field="changes")
        if not reason or not reason.strip():
            raise InvalidCorrection("a correction needs a reason", field="reason")
        if all(getattr(self, name) == value for name, value in changes.items()):
            raise InvalidCorrection("the changes leave the claim as it is", field="changes")
        self._correct(changes=changes, reason=reason, meta=meta)

    @event("ClaimCorrected")
    def _correct(self, changes: dict[str, Any], reason: str, meta: dict[str, str]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    # Corroborations and disputes

    def corroborate(self, by: str, source: dict[str, Any] | None, note: str | None, meta: Meta) -> None:
        """Record that ``by`` backs the claim up."""
        self._check_not_retracted("corroborated")
        self._corroborate(by=by, source=source, note=note, meta=meta)

    @event("ClaimCorroborated")
    def _corroborate(self, by: str, source: dict[str, Any] | None, note: str | None, meta: dict[str, str]) -> None:
        self.corroborations.append({"by": by, "source": source, "note": note, "recorded_at": meta["recorded_at"]})

    def dispute(
        self,
        by: str,
        source: dict[str, Any] | None,
        note: str | None,
        counter_claim: str | None,
        meta: Meta,
    ) -> None:
        """Record that ``by`` contradicts the claim, perhaps with a counter-claim."""
        self._check_not_retracted("disputed")
        if counter_claim == str(self.id):
            raise InvalidRequest("a claim cannot be its own counter-claim", field="counter_claim")
        self._dispute(by=by, source=source, note=note, counter_claim=counter_claim, meta=meta)

    @event("ClaimDisputed")
    def _dispute(
        self,
        by: str,
        source: dict[str, Any] | None,
        note: str | None,
        counter_claim: str | None,
        meta: dict[str, str],
    ) -> None:
        self.disputes.append(
            {
                "by": by,
                "source": source,
                "note": note,
                "counter_claim": counter_claim,
                "recorded_at": meta["recorded_at"],
            }
        )

    # Verdicts

    def review(self, by: str, rating: str, note: str | None, sources: list[str], meta: Meta) -> None:
        """Record ``by``'s verdict; it supersedes their earlier one. A retracted claim may still be rated."""
        if rating not in RATINGS:
            raise InvalidRequest(f"rating must be one of {', '.join(RATINGS)}, not {rating!r}", field="rating")
        self._review(by=by, rating=rating, note=note, sources=list(sources), meta=meta)

    @event("ClaimReviewed")
    def _review(self, by: str, rating: str, note: str | None, sources: list[str], meta: dict[str, str]) -> None:
        earlier = [r for r in self.reviews if r["by"] != by]  # a reviewer's later verdict replaces theirs
        self.reviews = [*earlier, {"by": by, "rating": rating, "note": note, "sources": list(sources),
                                   "version": self.version + 1, "recorded_at": meta["recorded_at"]}]

    # The end of a claim

    def retract(self, reason: str, source: dict[str, Any] | None, meta: Meta) -> None:
        """Withdraw the claim: it counts for nothing from now on."""
        if self.status == "retracted":
            raise ClaimAlreadyRetracted(f"claim {self.id} is already retracted")
        self._retract(reason=reason, source=source, meta=meta)

    @event("ClaimRetracted")
    def _retract(self, reason: str, source: dict[str, Any] | None, meta: dict[str, str]) -> None:
        self.status = "retracted"
        self.retraction = {"reason": reason, "source": source}

    def supersede(self, by_claim: str, reason: str | None, meta: Meta) -> None:
        """Replace the claim by a newer one (which must exist: the application checks)."""
        self._check_not_retracted("superseded")
        if self.superseded_by is not None:
            raise ClaimAlreadySuperseded(f"claim {self.id} is already superseded by {self.superseded_by}")
        if by_claim == str(self.id):
            raise InvalidSupersession("a claim cannot supersede itself", field="by_claim")
        self._supersede(by_claim=by_claim, reason=reason, meta=meta)

    @event("ClaimSuperseded")
    def _supersede(self, by_claim: str, reason: str | None, meta: dict[str, str]) -> None:
        self.status = "superseded"
        self.superseded_by = by_claim

    def _check_not_retracted(self, what: str) -> None:
        if self.status == "retracted":
            raise ClaimRetracted(f"claim {self.id} is retracted and cannot be {what}")
