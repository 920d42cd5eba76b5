"""The composition root: settings in, a running application (and its database) out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.audit import AuditLog
from adapters.database import Database
from adapters.idempotency import IdempotencyStore
from adapters.keys import KeyStore
from adapters.settings import Settings
from domain.application import ClaimsApplication
from projections.runner import Runner, views
from projections.view import View


@dataclass
class Services:
    """What the API and the command line work with."""

    settings: Settings
    database: Database
    app: ClaimsApplication
    views: dict[str, View]
    keys: KeyStore
    runner: Runner | None = field(default=None)
    idempotency: IdempotencyStore | None = field(default=None)
    # Told (projection, position) as the workers of this process move on (the API's X-Min-Position waits).
    position_listeners: list[Callable[[str, int], None]] = field(default_factory=list)

    def run_projections(self, names: list[str] | None = None) -> Runner:
        """Start the projection workers in this process."""
        runner = Runner(self.app, names)
        runner.listeners = self.position_listeners
        self.runner = runner.start()
        return self.runner

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        self.app.close()
        self.database.stop()

    def view(self, name: str) -> Any:
        return self.views[name]


def bootstrap(settings: Settings | None = None) -> Services:
    """Start (or reach) the database, create the schema on first use, construct the application."""
    settings = settings or Settings()
    database = Database(settings)
    url = database.start()
    try:
        app = ClaimsApplication(
            env=settings.eventsourcing_env(url),
            group_commit=settings.group_commit,
            group_commit_max=settings.group_commit_max,
        )
        AuditLog.of(app).install()  # hash chain and append-only triggers on the events table
        read_models = views(app)
        keys = KeyStore(app.recorder.datastore)  # type: ignore[attr-defined]
        keys.create_table()
        idempotency = IdempotencyStore(
            app.recorder.datastore, ttl_hours=settings.idempotency_ttl_hours  # type: ignore[attr-defined]
        )
        idempotency.create_table()
    except BaseException:
        database.stop()
        raise
    app.suggest_parties = read_models["parties"].resolve  # type: ignore[method-assign]
    return Services(
        settings=settings, database=database, app=app, views=read_models, keys=keys, idempotency=idempotency
    )
