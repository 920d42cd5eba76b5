"""The audit log as the API shows it: events with their hashes, verification, checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AuditEventOut(BaseModel):
    """One event of the global log and its link in the hash chain (hex; null where the chain has none)."""

    position: int
    stream: str = Field(description="the event's stream (originator id)")
    version: int
    type: str
    recorded_at: datetime | None
    hash: str | None
    prev_hash: str | None


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null when this page is the last")


class Intact(BaseModel):
    ok: Literal[True] = True
    events: int
    head: str
    checked_from: int = Field(default=0, description="events after this position were re-hashed now; those up to "
                              "it were intact at an earlier verification and still check out (0: every event)")


class Tampered(BaseModel):
    ok: Literal[False] = False
    first_bad_position: int
    reason: str


class CheckpointOut(BaseModel):
    size: int
    head: str
    timestamp: str
    signed: str = Field(description="the exact text signed: claims-checkpoint\\n{size}\\n{head}\\n{timestamp}")
    signature: str = Field(description="Ed25519 over the UTF-8 bytes of `signed`, base64")
    public_key: str = Field(description="the Ed25519 public key, 32 raw bytes, base64")
