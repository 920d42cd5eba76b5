"""The Claim aggregate: one statement, attributed to a speaker, reported by a source."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import event
from eventsourcing.utils import get_topic

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


@dataclass(frozen=True, kw_only=True)
class Assertion:
    """What a claim asserts, declared once.

    ``ClaimAsserted``'s data, the aggregate's fields, what a correction may change
    (``CORRECTABLE``), and what a request may leave out (the defaults, which the API's
    ``ClaimIn`` takes from here) all derive from this list. Its order is the stored event's.
    Party fields hold party ids in a claim, and names (ids or aliases) in a request.
    """

    speaker: str
    co_speakers: list[str] = field(default_factory=list)  # a joint statement's other signers
    topic: str
    text: str
    language: str
    verbatim: bool = False
    stance: str
    position: str | None = None  # a short summary; a read shows the text without one
    kind: str = "statement"
    stated_at: str
    source: dict[str, Any]
    about: str | None = None  # the party the claim is about
    facts: dict[str, Any] = field(default_factory=dict)  # scalar facts a report states


ASSERTED = dataclasses.fields(Assertion)
# A reviewer's verdict on a claim, most to least true (then the two that say no rating fits).
RATINGS = ("true", "mostly-true", "mixed", "mostly-false", "false", "misleading", "unverifiable")
# The fields a correction may change: everything the claim asserted.
CORRECTABLE = tuple(f.name for f in ASSERTED)
_DECLARED = {f.name: f for f in ASSERTED}


def assertion_default(name: str) -> Any:
    """What a claim asserts for ``name`` when a request leaves it out (a fresh list or dict each time)."""
    declared = _DECLARED[name]
    if declared.default_factory is not dataclasses.MISSING:
        return declared.default_factory()
    if declared.default is dataclasses.MISSING:
        raise KeyError(f"a claim's {name} has no default: a request must give it")
    return declared.default


def _asserting(init: Any) -> Any:
    """Give ``Claim.__init__`` the signature (id, every asserted field, meta) the library maps to the event."""
    p = inspect.Parameter
    init.__signature__ = inspect.Signature(
        [p(name, p.POSITIONAL_OR_KEYWORD) for name in ("self", "id", *CORRECTABLE, "meta")]
    )
    return init


class Claim(Recorded):
    """A statement and what happened to it since: corrections, corroborations, disputes, its end."""

    class ClaimAsserted(Recorded.Created):
        """A claim was recorded. Declared (not derived from ``__init__``) to carry a class version.

        The library uses a class declared under the event's name as it is: it does not add
        fields from ``__init__``'s signature, so they are taken from ``Assertion`` here.
        Version 1 (stored before claims had facts) has no ``facts``; ``upcast_v1_v2`` fills it
        in when such an event is read. A stored event without ``class_version`` counts as
        version 1, and that includes every event stored before versions were declared, most of
        which already have facts: the upcast only adds what is missing, never overwrites.
        """

        class_version = 2

        __annotations__.update({f.name: f.type for f in ASSERTED})
        meta: dict[str, str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("facts", {})

    @event(ClaimAsserted)
    @_asserting
    def __init__(self, id: UUID, meta: dict[str, str], **asserted: Any) -> None:  # noqa: A002  (the library's name)
        self._assert(asserted)

    @classmethod
    def assert_new(cls, id: UUID, meta: Meta, **asserted: Any) -> Claim:  # noqa: A002
        """What ``Claim(id=id, meta=meta, **asserted)`` makes: the claim, its ClaimAsserted pending.

        Made directly, without the library's reading of signatures and filtering of arguments on
        each call (most of the cost of a new claim in a batch of thousands). The same event and
        the same aggregate, attribute for attribute (tests/unit/test_claims.py holds it to that).
        """
        if not isinstance(id, UUID):  # what the event's __post_init__ checks
            raise TypeError(f"{cls.ClaimAsserted} was initialized with a non-UUID originator_id: {id!r}")
        at = meta.recorded_at
        # The event's fields set in its dataclass order (_EVENT_FIELDS: the stored JSON's key order)
        # without its frozen __init__, which sets each through object.__setattr__: 3.7 µs -> 0.7.
        created = object.__new__(cls.ClaimAsserted)
        state = created.__dict__
        state["originator_id"], state["originator_version"], state["timestamp"] = id, 1, at
        state["originator_topic"] = _CLAIM_TOPIC
        for name in CORRECTABLE:
            state[name] = asserted[name]
        state["meta"] = meta.as_dict()
        claim = object.__new__(cls)
        claim.__base_init__(id, 1, at)
        claim._assert(vars(created))
        claim._pending_events.append(created)
        return claim

    def _assert(self, asserted: dict[str, Any]) -> None:
        for name in CORRECTABLE:  # copies: what a caller passed in cannot change the claim later
            value = asserted[name]
            copied = list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value
            setattr(self, name, copied)
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
        if "co_speakers" in changes:
            check_speakers(changes.get("speaker", self.speaker), changes["co_speakers"], field="changes.co_speakers")
        elif changes.get("speaker") in self.co_speakers:
            raise InvalidCorrection(
                f"{changes['speaker']} is a co-speaker of the claim already; correct co_speakers too",
                field="changes.speaker",
            )
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

    def supersede(self, by_claim: str, reason: str | None, meta: Meta, successors: Sequence[str] = ()) -> None:
        """Replace the claim by a newer one (which must exist: the application checks).

        ``successors``: the claims ``by_claim`` is itself superseded by, in order
        (``supersession_chain``); the claim may not be among them, else the chain would be a
        cycle and every claim in it superseded, leaving the party's position with none.
        """
        self._check_not_retracted("superseded")
        if self.superseded_by is not None:
            raise ClaimAlreadySuperseded(f"claim {self.id} is already superseded by {self.superseded_by}")
        if by_claim == str(self.id):
            raise InvalidSupersession("a claim cannot supersede itself", field="by_claim")
        if str(self.id) in successors:
            cycle = [str(self.id), by_claim, *successors[: list(successors).index(str(self.id)) + 1]]
            raise InvalidSupersession(
                f"superseding would make a cycle, each claim superseded by the next: {' -> '.join(cycle)}",
                field="by_claim",
            )
        self._supersede(by_claim=by_claim, reason=reason, meta=meta)

    @event("ClaimSuperseded")
    def _supersede(self, by_claim: str, reason: str | None, meta: dict[str, str]) -> None:
        self.status = "superseded"
        self.superseded_by = by_claim

    def _check_not_retracted(self, what: str) -> None:
        if self.status == "retracted":
            raise ClaimRetracted(f"claim {self.id} is retracted and cannot be {what}")


def supersession_chain(claim: Claim, get: Callable[[UUID], Claim]) -> list[str]:
    """The ids of the claims that supersede ``claim``, then its successor, and so on (a cycle stops it)."""
    chain: list[str] = []
    while claim.superseded_by is not None and claim.superseded_by not in chain:
        chain.append(claim.superseded_by)
        claim = get(UUID(claim.superseded_by))
    return chain


def check_speakers(speaker: str, co_speakers: Sequence[str], *, field: str = "co_speakers") -> None:
    """Refuse co-speakers that repeat the speaker or each other (party ids, names resolved).

    A desk listing a name twice most often meant another one: recording the statement with
    one signer fewer, without a word, would hide the slip. So the request is refused,
    naming the repeat (``co_speakers[i]``) and whom it repeats.
    """
    seen = {speaker: "the speaker"}
    for index, party in enumerate(co_speakers):
        if party in seen:
            raise InvalidRequest(
                f"co-speaker {party} is {seen[party]} already; list each party once, "
                "the speaker not among the co-speakers",
                field=f"{field}[{index}]",
            )
        seen[party] = f"co_speakers[{index}]"


_CLAIM_TOPIC = get_topic(Claim)
# assert_new sets ClaimAsserted's fields in this order; should the library's event change, fail here.
_EVENT_FIELDS = ("originator_id", "originator_version", "timestamp", "originator_topic", *CORRECTABLE, "meta")
if tuple(f.name for f in dataclasses.fields(Claim.ClaimAsserted)) != _EVENT_FIELDS:
    raise ImportError(f"ClaimAsserted's fields are not {_EVENT_FIELDS}: Claim.assert_new must follow them")
