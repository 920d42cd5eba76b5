"""Domain errors: one small hierarchy, mapped to HTTP in one place (api/errors.py)."""

from __future__ import annotations


class DomainError(Exception):
    """Something a client asked for breaks a rule of the domain."""

    def __init__(self, detail: str, *, field: str | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class NotFound(DomainError):
    """The thing asked for does not exist."""


class ClaimNotFound(NotFound):
    pass


class PartyNotFound(NotFound):
    pass


class TopicNotFound(NotFound):
    pass


class Conflict(DomainError):
    """The request clashes with the current state (HTTP 409)."""


class PartyExists(Conflict):
    pass


class AliasTaken(Conflict):
    pass


class ClaimExists(Conflict):
    pass


class ClaimAlreadyRetracted(Conflict):
    pass


class ClaimAlreadySuperseded(Conflict):
    pass


class PartyAlreadyMerged(Conflict):
    pass


class InvalidRequest(DomainError):
    """Well-formed input that the domain refuses (HTTP 422)."""


class ClaimRetracted(InvalidRequest):
    """A retracted claim takes no more corrections, corroborations, disputes or supersessions."""


class UnknownParty(InvalidRequest):
    """A name resolves to no party, or to several (``candidates`` lists them)."""


class UnknownClaim(InvalidRequest):
    pass


class InvalidAffiliation(InvalidRequest):
    pass


class InvalidMerge(InvalidRequest):
    pass


class InvalidCorrection(InvalidRequest):
    pass


class InvalidSupersession(InvalidRequest):
    pass


class StaleVersion(DomainError):
    """The client's If-Match names a version that is no longer current (HTTP 412)."""


class BatchRejected(DomainError):
    """One or more items of a batch are bad; nothing was recorded."""

    def __init__(self, errors: list[dict[str, object]]) -> None:
        items = {e.get("index") for e in errors}  # an item may have several bad fields
        super().__init__(f"{len(items)} item(s) of the batch are invalid; nothing was recorded")
        self.errors = errors
