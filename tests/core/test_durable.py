"""Durable records (core.durable): each kind has one handler, registered by the domain it is of,
and a record of a kind nobody registered is refused at once, never spooled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from core import durable
from core.alerts import raise_alert
from core.db import database
from core.durable import UnknownRecordKind
from tests.support import make_settings

#: Every kind the hotline writes, and the module whose handler applies it.
OWNERS = {
    "call": "calls.durable",
    "event": "calls.durable",
    "alert": "core.alerts",
    "recording": "recordings.service",
    "dial": "routing.store",
    "accept": "routing.store",
    "dial_result": "routing.store",
    "callback": "routing.callbacks",
    "case_intake": "cases.views.intake",
    "call_ended": "ivr.hangups",
}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    """An app that never reaches its database (nothing here may write)."""
    return create_app(make_settings(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path))


def test_every_kind_is_registered_by_its_domain_before_the_first_request(app: Flask) -> None:
    assert {kind: fn.__module__ for kind, fn in durable.HANDLERS.items()} == OWNERS


def test_a_record_of_an_unknown_kind_is_refused_before_anything_is_written(app: Flask) -> None:
    alert = {"priority": 0, "kind": "x", "message": "x", "at": "2026-01-01T00:00:00+00:00"}
    with app.test_request_context():
        with pytest.raises(UnknownRecordKind, match="'nope'"):
            durable.persist(("alert", alert), ("nope", {}))
        database(app).mark_down(ConnectionError("the database is down"))
        try:
            with pytest.raises(UnknownRecordKind, match="'nope'"):
                durable.persist(("alert", alert), ("nope", {}))
            with pytest.raises(UnknownRecordKind, match="'nope'"):
                durable.write(("nope", {}))
        finally:
            database(app).mark_up()
        assert durable.spool().pending() == [], "nothing was spooled"


def test_a_kind_has_one_handler() -> None:
    def another(session: Any, record: dict[str, Any]) -> None:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="'alert' already has a handler"):
        durable.register("alert", another)
    assert durable.register("alert", raise_alert) is raise_alert, "the same one again is fine"
    assert durable.HANDLERS["alert"] is raise_alert
    with pytest.raises(TypeError):
        durable.HANDLERS["alert"] = another  # type: ignore[index]
