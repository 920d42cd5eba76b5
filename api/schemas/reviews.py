"""Verdicts on claims, as requests give them and as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas.common import Name, Note, Strict, Url

Rating = Literal["true", "mostly-true", "mixed", "mostly-false", "false", "misleading", "unverifiable"]


class ReviewIn(Strict):
    """A reviewer's verdict on a claim; it supersedes the same reviewer's earlier verdict."""

    model_config = {
        "json_schema_extra": {
            "examples": [{
                "by": "faktencheck",
                "rating": "mostly-false",
                "note": "The delegation's own statement says Dmitriev took part in the talks.",
                "sources": ["https://example.org/seeds/2025-12-23-miami-talks-continue"],
            }]
        }
    }

    by: Name = Field(description="the reviewing party (id or alias): a desk, a fact-checking organisation")
    rating: Rating
    note: Note | None = None
    sources: list[Url] = Field(default_factory=list, max_length=50, description="URLs the verdict rests on")


class ReviewOut(BaseModel):
    """One current verdict, with the claim it is on."""

    claim_id: UUID
    by: str
    rating: str
    note: str | None
    sources: list[str]
    version: int = Field(description="the claim's version this verdict made")
    recorded_at: datetime
    recorded_by: str | None = None
    claim: dict[str, Any] | None = Field(default=None, description="the claim as it stands now")


class ReviewPage(BaseModel):
    items: list[ReviewOut]
    next_cursor: str | None
