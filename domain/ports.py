"""What the use cases need from the outside, as typed interfaces the composition root fills in.

The domain names these; ``adapters/`` implements them (the PostgreSQL recorder, the in-memory
store of the unit tests, the group commit), and ``api/bootstrap.py`` passes them in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from uuid import UUID

if TYPE_CHECKING:
    from domain.application import ClaimsApplication, PendingClaim, Saved
    from domain.claim import Claim

# "Did you mean" candidates for a name no party has (the read side's fuzzy search).
Suggest = Callable[[str], list[dict[str, Any]]]


@runtime_checkable
class StreamStore(Protocol):
    """The event store as the name directory reads it: whole streams by id, and the log's tail.

    Both recorders implement it: ``adapters.recorder.ClaimsRecorder`` (PostgreSQL, one query
    for many streams) and ``adapters.memory.MemoryRecorder`` (the unit tests' store), so the
    unit tests run the path production runs.
    """

    def select_streams(self, originator_ids: Sequence[UUID]) -> Sequence[Any]:
        """Every stored event of these streams, stream after stream, each in version order."""
        ...

    def max_notification_id(self) -> int | None: ...

    def select_notifications(  # noqa: PLR0913  (the library's signature)
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Any]: ...


class ClaimPipeline(Protocol):
    """Where ``submit_claim`` hands a checked claim to be committed (the group commit)."""

    def submit(self, claim: PendingClaim) -> Future[Saved[Claim]]: ...

    def close(self) -> None: ...


# Builds the pipeline for an application (it saves through that application).
PipelineFactory = Callable[["ClaimsApplication"], ClaimPipeline]
