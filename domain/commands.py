"""What a client asks the use cases to do, as typed commands (the API translates its requests into these)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.claim import CORRECTABLE, Assertion


@dataclass(frozen=True, kw_only=True)
class RecordClaim(Assertion):
    """Record a claim: what it asserts (parties by id or alias), and the id a client chose, if any."""

    id: UUID | None = None

    @classmethod
    def of(cls, command: RecordClaim | Mapping[str, Any]) -> RecordClaim:
        """The command itself, or one from a mapping of its fields (scripts and tests write those)."""
        return command if isinstance(command, RecordClaim) else cls(**command)

    def asserted(self) -> dict[str, Any]:
        """The asserted fields, by name."""
        return {name: getattr(self, name) for name in CORRECTABLE}

    def names(self) -> list[str]:
        """The party names it gives (speaker, co_speakers, about), as given."""
        return [self.speaker, *self.co_speakers, *([self.about] if self.about is not None else [])]

    def replace(self, **changes: Any) -> RecordClaim:
        return dataclasses.replace(self, **changes)
