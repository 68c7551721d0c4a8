"""The hot webhooks' round trips to the database, counted per route over whole calls.

A statement is a round trip (each costs the worker CPU in SQLAlchemy and the driver, and the
caller a wait on the database): issue 19 took a service call from 4.8 statements a webhook to
fewer by reading each route's own state in the webhook's statement (calls.service.
record_webhook) and by not reading back what the request already knows. These budgets keep it
so; a change that adds a round trip to a hot route fails here and must say why.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Sequence

import pytest
from flask import Flask
from sqlalchemy import event

from core.db import database
from tests.flows.test_call_flows import _store_roster, call
from tests.support.routing import ROSTER

#: Statements per webhook on PostgreSQL (the call's upsert and its log are one), by route.
POSTGRESQL = {
    "/voice/incoming": 2,  # call + log + the caller's open case; the IVR session
    "/voice/ivr/gather": 2,  # call + log + the IVR session; its advance
    "/voice/cases/recorded": 14,
    "/voice/recording-status": 3,  # log; recording; its download job
    "/voice/status": 3,  # call + log; open bridges closed; was the caller served
}
#: An emergency's webhooks on PostgreSQL.
POSTGRESQL_EMERGENCY = {
    "/voice/incoming": 2,
    "/voice/ivr/gather": 3,  # … and the bridge attempt it starts
    "/voice/route/screen": 1,
    "/voice/route/accept": 2,
    "/voice/route/dialed": 2,
    "/voice/status": 3,
}
#: SQLite runs the upsert and the log as two statements, and a writer first takes the lock.
SQLITE = {
    "/voice/incoming": 5,
    "/voice/ivr/gather": 5,
    "/voice/cases/recorded": 18,
    "/voice/recording-status": 4,
    "/voice/status": 5,
}


#: An emergency's webhooks on SQLite.
SQLITE_EMERGENCY = {
    "/voice/incoming": 5,
    "/voice/ivr/gather": 7,
    "/voice/route/screen": 3,
    "/voice/route/accept": 4,
    "/voice/route/dialed": 4,
    "/voice/status": 5,
}


@pytest.fixture
def counted(app: Flask) -> Iterator[tuple[Flask, dict[str, list[int]]]]:
    """The app with the demo roster; each webhook's statements (SAVEPOINTs aside), by route."""
    _store_roster(app, ROSTER)
    per_route: dict[str, list[int]] = collections.defaultdict(list)
    current: list[int] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            current[0] += 1

    engine = database(app).engine
    client = app.test_client()
    post = client.post

    def counting_post(path: str, *args: object, **kwargs: object) -> object:
        current[:] = [0]
        try:
            return post(path, *args, **kwargs)
        finally:
            per_route[path.split("?", 1)[0]].append(current[0])

    event.listen(engine, "before_cursor_execute", count)
    app.test_client = lambda *a, **k: client  # type: ignore[method-assign]
    client.post = counting_post  # type: ignore[method-assign,assignment]
    try:
        yield app, per_route
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _calls(app: Flask, inputs: Sequence[str], n: int = 2) -> None:
    for i in range(n):
        result = call(app, inputs, caller=f"+8613800138{i:03d}")
        assert result.exit_code == 0, "\n".join(result.transcript)


def test_a_service_call_keeps_to_its_round_trips(
    counted: tuple[Flask, dict[str, list[int]]],
) -> None:
    app, per_route = counted
    _calls(app, ["2", "人民路和中山路路口的路灯坏了，晚上一片漆黑"])
    budget = POSTGRESQL if database(app).engine.dialect.name == "postgresql" else SQLITE
    # The second call is the steady state (the first also loads the roster into its cache).
    seen = {route: counts[-1] for route, counts in per_route.items() if route in budget}
    assert seen == budget


def test_an_emergency_keeps_to_its_round_trips(
    counted: tuple[Flask, dict[str, list[int]]],
) -> None:
    app, per_route = counted
    _calls(app, ["1", "officer:1"])
    postgresql = database(app).engine.dialect.name == "postgresql"
    budget = POSTGRESQL_EMERGENCY if postgresql else SQLITE_EMERGENCY
    seen = {route: counts[-1] for route, counts in per_route.items() if route in budget}
    assert seen == budget
