"""API keys: made by `claims keys create`, shown once, stored only as a SHA-256 hash.

A token is ``clm_`` and 32 random bytes (``secrets.token_urlsafe(32)``): 256 bits of
entropy. For a secret that random a single fast hash is enough; a slow password hash
(bcrypt, argon2) exists to make guessing a *low-entropy* password expensive, and nobody
can enumerate 2^256 tokens however fast the hash. Finding a token from its hash would
take a SHA-256 preimage. So the table holds the hash and a lookup is one indexed query.

Every request asks whether any key exists (with none, the server is open) and which key
a token is; both answers come from one snapshot of the unrevoked keys, re-read at most
once a ``ttl`` (1 s), so a revocation from any process takes effect within that time.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

from domain.errors import Conflict, InvalidRequest, NotFound

TABLE = "api_keys"
TOKEN_PREFIX = "clm_"
CACHE_SECONDS = 1.0

Role = Literal["reader", "writer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
# Each role may do what the roles before it may.
RANK = {role: rank for rank, role in enumerate(ROLES)}
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
# The name every event records when the server is open; a key may not take it.
OPEN_PRINCIPAL = "local"


class KeyNameTaken(Conflict):
    pass


class NoSuchKey(NotFound):
    pass


class BadKeyName(InvalidRequest):
    pass


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, role: Role) -> bool:
        """True if this key's role is ``role`` or above it (reader < writer < admin)."""
        return RANK[self.role] >= RANK[role]


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class KeyStore:
    """The ``api_keys`` table, on the application's connection pool, with a short-lived snapshot."""

    def __init__(
        self, datastore: PostgresDatastore, *, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.datastore = datastore
        self.table = Identifier(datastore.schema, TABLE)
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._snapshot: dict[bytes, ApiKey] = {}
        self._expires = float("-inf")
        # True on a server bound beyond loopback: with no unrevoked key it refuses every request
        # instead of being open (`claims serve` sets it).
        self.required = False

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY,"
                    " role text NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),"
                    " hash bytea NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now(),"
                    " revoked_at timestamptz)"
                ).format(self.table)
            )

    def create(self, name: str, role: Role) -> tuple[ApiKey, str]:
        """Make a key; answer it and its token, which exists nowhere else from then on."""
        if role not in RANK:
            raise BadKeyName(f"no role {role!r}; there are {', '.join(ROLES)}", field="role")
        if not re.fullmatch(NAME_PATTERN, name):
            raise BadKeyName(
                f"a key's name is 1-64 letters, digits or . _ @ - (starting with a letter or digit), not {name!r}",
                field="name",
            )
        if name == OPEN_PRINCIPAL:
            raise BadKeyName(f"{OPEN_PRINCIPAL!r} is what events record when no key is used; choose another name",
                             field="name")
        token = new_token()
        with self.datastore.transaction(commit=True) as curs:
            row = curs.execute(
                SQL(
                    "INSERT INTO {} (name, role, hash) VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING"
                    " RETURNING name, role, created_at, revoked_at"
                ).format(self.table),
                (name, role, digest(token)),
            ).fetchone()
        if row is None:
            existing = self.get(name)
            revoked = f" (revoked {existing.revoked_at:%Y-%m-%d %H:%M})" if existing and existing.revoked_at else ""
            raise KeyNameTaken(
                f"a key named {name!r} exists{revoked}; names are never reused, so that events recorded "
                "under a name stay attributable to one key. Choose another name.",
                field="name",
            )
        self._expires = float("-inf")
        return ApiKey(**row), token

    def get(self, name: str) -> ApiKey | None:
        with self.datastore.transaction(commit=False) as curs:
            row = curs.execute(
                SQL("SELECT name, role, created_at, revoked_at FROM {} WHERE name = %s").format(self.table), (name,)
            ).fetchone()
        return None if row is None else ApiKey(**row)

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first (never a token: none is stored)."""
        with self.datastore.transaction(commit=False) as curs:
            rows = curs.execute(
                SQL("SELECT name, role, created_at, revoked_at FROM {} ORDER BY created_at, name").format(self.table)
            ).fetchall()
        return [ApiKey(**row) for row in rows]

    def revoke(self, name: str) -> tuple[ApiKey, bool]:
        """Revoke a key; answer it and whether this call revoked it (False: it was revoked before)."""
        with self.datastore.transaction(commit=True) as curs:
            row = curs.execute(
                SQL(
                    "UPDATE {} SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL"
                    " RETURNING name, role, created_at, revoked_at"
                ).format(self.table),
                (name,),
            ).fetchone()
        self._expires = float("-inf")
        if row is not None:
            return ApiKey(**row), True
        existing = self.get(name)
        if existing is None:
            names = ", ".join(key.name for key in self.list()) or "none"
            raise NoSuchKey(f"no key is named {name!r} (keys: {names})", field="name")
        return existing, False

    def any_active(self) -> bool:
        """True if some unrevoked key exists (then every request under /v1 needs one)."""
        return bool(self._active())

    def authenticate(self, token: str) -> ApiKey | None:
        """The unrevoked key whose token this is, or None."""
        return self._active().get(digest(token))

    def _active(self) -> dict[bytes, ApiKey]:
        if self.clock() < self._expires:
            return self._snapshot
        with self._lock:
            if self.clock() < self._expires:  # another thread refreshed it meanwhile
                return self._snapshot
            with self.datastore.transaction(commit=False) as curs:
                rows = curs.execute(
                    SQL("SELECT name, role, hash, created_at FROM {} WHERE revoked_at IS NULL").format(self.table)
                ).fetchall()
            self._snapshot = {
                bytes(row["hash"]): ApiKey(row["name"], row["role"], row["created_at"]) for row in rows
            }
            self._expires = self.clock() + self.ttl
            return self._snapshot
