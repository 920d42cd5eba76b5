"""Settings, from the environment, in one place; the eventsourcing environment derives from them."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the service. Environment variables are ``CLAIMS_<NAME>``, except DATABASE_URL."""

    model_config = SettingsConfigDict(env_prefix="CLAIMS_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "CLAIMS_DATABASE_URL"),
        description="postgresql://… of an external server; unset: an embedded server under `home`",
    )
    read_database_url: str | None = Field(
        default=None,
        description="postgresql://… of a hot standby (streaming replication) that serves the read routes; "
        "writes and projections stay on the primary. Unset: everything on the primary",
    )
    home: Path = Field(default=Path(".claims"), description="where the embedded server keeps its data")
    db_schema: str = Field(default="public", description="PostgreSQL schema of every table")
    host: str = Field(default="127.0.0.1", description="address `claims serve` binds")
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, description="API processes `claims serve` runs on its one port")
    pool_size: int = Field(default=8, ge=1, description="database connections kept open per pool")
    pool_max_overflow: int = Field(default=8, ge=0)
    pool_pre_ping: bool = Field(
        default=False,
        description="test each pooled connection before use (a round trip each time); off, a connection "
        "broken by a database restart fails one call, which tests the whole pool and is retried",
    )
    access_log: bool = Field(
        default=False, description="log a line per request (`claims serve`); GET /metrics counts them either way"
    )
    run_projections: bool = Field(default=True, description="`claims serve` runs the projections in-process")
    checkpoint_key: str | None = Field(
        default=None,
        description="Ed25519 key that signs checkpoints: a PEM, or a PEM file's path; unset: "
        "`home`/checkpoint-key.pem, made on first use",
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1, description="largest request body accepted (bytes); larger ones get 413"
    )
    idempotency_ttl_hours: float = Field(
        default=24, gt=0, description="how long an Idempotency-Key's first answer is kept (and replayed), in hours"
    )
    group_commit: bool = Field(
        default=True, description="coalesce concurrent POST /v1/claims into one transaction; off: one each"
    )
    group_commit_max: int = Field(default=500, ge=1, description="claims per group-commit transaction, at most")
    feed_streams_per_key: int = Field(
        default=4, ge=1, description="GET /v1/events answers an API key may have open at once; the next gets 429"
    )
    feed_heartbeat_seconds: float = Field(
        default=15, gt=0, description="how often an idle followed feed sends a heartbeat (SSE comment, NDJSON blank line)"
    )

    def eventsourcing_env(self, database_url: str) -> dict[str, str]:
        """The environment of the eventsourcing library's PostgreSQL persistence, for ``database_url``."""
        from psycopg.conninfo import conninfo_to_dict

        conn = conninfo_to_dict(database_url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": "adapters.recorder:ClaimsRecorder",
            # The library's bytes, written by orjson where it writes the same (adapters/transcoder.py).
            "TRANSCODER_TOPIC": "adapters.transcoder:FastJSONTranscoder",
            "POSTGRES_DBNAME": str(conn.get("dbname", "postgres")),
            "POSTGRES_HOST": str(conn.get("host", "localhost")),
            "POSTGRES_PORT": str(conn.get("port", "5432")),
            "POSTGRES_USER": str(conn.get("user", "postgres")),
            "POSTGRES_PASSWORD": str(conn.get("password", "")),
            "POSTGRES_SCHEMA": self.db_schema,
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.pool_max_overflow),
            "POSTGRES_PRE_PING": "y" if self.pool_pre_ping else "n",
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "CREATE_TABLE": "y",
        }
