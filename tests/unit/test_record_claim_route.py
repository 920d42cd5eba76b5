"""POST /v1/claims skips FastAPI's dependency solving for a well-formed claim (RecordClaimRoute) and runs
the route's dependencies by hand: should one be added to the app, the router or the route, this fails
until RecordClaimRoute runs it too."""

from __future__ import annotations

from api.app import create_app
from api.deps import refuse_nul_in_query
from api.routers.claims import RecordClaimRoute, router


def test_the_claim_route_runs_by_hand_every_dependency_the_framework_would_solve() -> None:
    [route] = [r for r in router.routes if isinstance(r, RecordClaimRoute)]
    assert route.path == "/v1/claims" and route.methods == {"POST"}
    # The router's own (Access: RecordClaimRoute authorizes a writer) and nothing of the route's.
    [access] = route.dependant.dependencies
    assert access.call.__qualname__ == "require.<locals>.dependency"
    # The app's, given where it includes the router (RecordClaimRoute runs refuse_nul_in_query).
    app = create_app()
    included = [r.include_context for r in app.routes if getattr(r, "original_router", None) is router]
    assert [[d.dependency for d in context.dependencies] for context in included] == [[refuse_nul_in_query]]
