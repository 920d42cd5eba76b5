"""The composition root: settings in, a running application (and its database) out."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.postgres import PostgresDatastore

from adapters.audit import AuditLog
from adapters.database import Database, read_datastore
from adapters.group_commit import ClaimGroupCommit
from adapters.idempotency import IdempotencyStore
from adapters.keys import KeyStore
from adapters.recorder import datastore_of
from adapters.settings import Settings
from domain.application import ClaimsApplication
from projections.parties import PartiesView
from projections.runner import Runner, views, views_on
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
    group_commit: ClaimGroupCommit | None = field(default=None)
    read_datastore: PostgresDatastore | None = field(default=None)  # a hot standby's, if reads go there
    # Told (projection, position) as the workers of this process move on (the API's X-Min-Position waits).
    position_listeners: list[Callable[[str, int], None]] = field(default_factory=list)

    @property
    def datastore(self) -> PostgresDatastore:
        """The PostgreSQL datastore the events, views, keys and idempotency records share."""
        return datastore_of(self.app)

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
        if self.idempotency is not None:
            self.idempotency.close()
        if self.read_datastore is not None:
            self.read_datastore.close()
        self.database.stop()

    def view(self, name: str) -> Any:
        return self.views[name]


def bootstrap(settings: Settings | None = None) -> Services:
    """Start (or reach) the database, create the schema on first use, construct the application."""
    settings = settings or Settings()
    database = Database(settings)
    url = database.start()
    ddl = contextlib.ExitStack()
    try:
        ddl.enter_context(database.schema_lock())  # processes starting together take turns at the DDL
        read_models: dict[str, View] = {}  # made once the application (whose pool they share) exists

        def suggest_parties(name: str) -> list[dict[str, Any]]:
            parties = read_models["parties"]
            return parties.resolve(name) if isinstance(parties, PartiesView) else []

        pipelines: list[ClaimGroupCommit] = []

        def group_commit(app: ClaimsApplication) -> ClaimGroupCommit:
            pipelines.append(ClaimGroupCommit(app, max_items=settings.group_commit_max))
            return pipelines[-1]

        app = ClaimsApplication(
            env=settings.eventsourcing_env(url),
            pipeline=group_commit if settings.group_commit else None,
            suggest_parties=suggest_parties,
        )
        AuditLog.of(app).install()  # hash chain and append-only triggers on the events table
        read_models.update(views(app))  # tables created on the primary, where the projections write
        standby = None
        if settings.read_database_url:
            # The read routes (and X-Min-Position's wait: the standby's own tracking positions)
            # query the standby; the runner makes its own views, on the primary.
            standby = read_datastore(settings)
            read_models.update(views_on(standby))
        datastore = datastore_of(app)
        keys = KeyStore(datastore)
        keys.create_table()
        idempotency = IdempotencyStore(datastore, ttl_hours=settings.idempotency_ttl_hours)
        idempotency.create_table()
    except BaseException:
        ddl.close()
        database.stop()
        raise
    ddl.close()
    return Services(
        settings=settings, database=database, app=app, views=read_models, keys=keys, idempotency=idempotency,
        group_commit=pipelines[0] if pipelines else None, read_datastore=standby,
    )
