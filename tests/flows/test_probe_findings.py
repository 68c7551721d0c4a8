"""What the outside probe checked and found sound stays sound — over every route the app has,
not a sample: Twilio signatures on every webhook, a CSRF token on every console form, a token on
every API resource, a unit kept to its own cases and recordings (no IDOR), and no path that
reads a file outside what is meant to be served. (Log masking: tests/flows/test_log_hygiene.py.)

The route lists come from the app's own URL map, so a route added later is covered, or fails
here until it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.routing import Rule

from calls.models import Call, CallEvent
from cases.models import Case, CaseEvent
from config.settings import Settings
from core.jobs import Job
from recordings.models import Recording, RecordingState
from recordings.storage import LocalStorage, StorageError
from staff.models import Role
from tests.support import PUBLIC_BASE_URL, call_params
from tests.support.recordings import attach_recording
from tests.support.staff import add_user, bearer, csrf_of, login, open_case, token_for

#: Values for the URL map's placeholders, so that every rule can be built.
PLACEHOLDERS: dict[str, str | int] = {
    "number": "MS-20261201-0001",
    "call_sid": "CA" + "0" * 32,
    "sid": "RE" + "0" * 32,
    "task_id": 1,
    "alert_id": 1,
    "fmt": "json",
    "code": "city_management",
    "token": "MS-20261201-0001",
    "filename": "console.css",
}


def _rules(app: Flask, prefix: str, method: str) -> list[Rule]:
    return sorted(
        (
            r
            for r in app.url_map.iter_rules()
            if r.rule.startswith(prefix) and method in (r.methods or ())
        ),
        key=lambda r: r.rule,
    )


def _path(rule: Rule) -> str:
    values = {name: PLACEHOLDERS[name] for name in rule.arguments}
    built = rule.build(values, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def _written(session: Session) -> tuple[int, ...]:
    """How many rows the tables a webhook or a form could change hold."""
    session.expire_all()
    return tuple(
        session.scalar(select(func.count()).select_from(table)) or 0
        for table in (Call, CallEvent, Case, CaseEvent, Job, Recording)
    )


def test_every_twilio_webhook_refuses_an_unsigned_or_forged_request(
    app: Flask, client: FlaskClient, settings: Settings, db_session: Session
) -> None:
    webhooks = _rules(app, "/voice/", "POST")
    assert len(webhooks) >= 20, "the URL map lists the webhooks"
    params = {**call_params(settings), "Digits": "1", "RecordingSid": PLACEHOLDERS["sid"]}
    forger = RequestValidator("not-our-auth-token")
    before = _written(db_session)
    for rule in webhooks:
        path = _path(rule)
        unsigned = client.post(path, data=params)
        assert unsigned.status_code == 403, path
        signature = forger.compute_signature(PUBLIC_BASE_URL + path, params)
        forged = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        assert forged.status_code == 403, path
    assert _written(db_session) == before, "nothing written by a request Twilio did not sign"


def test_every_console_form_refuses_a_post_without_its_csrf_token(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    add_user(db_session, "root", Role.ADMIN)
    number = open_case(app, db_session)
    login(client, "root")
    forms = _rules(app, "/console/", "POST")
    assert {r.endpoint for r in forms} >= {
        "console.case_act",
        "console.logout",
        "console.roster_save",
        "console.roster_available",
        "console.callback_claim",
        "console.callback_outcome",
        "console.alert_acknowledge",
        "console.login",
    }
    before = _written(db_session)
    for rule in forms:
        path = _path(rule).replace(str(PLACEHOLDERS["number"]), number)
        for token in (None, "forged"):
            data = {"action": "escalate", "username": "root", "available": "0"}
            if token:
                data["csrf"] = token
            refused = client.post(path, data=data)
            assert refused.status_code == 400, (path, token)
            assert "CSRF" in refused.get_data(as_text=True)
    assert _written(db_session) == before
    assert client.get("/console/board").status_code == 200, "the session was not ended by it"


def test_every_api_resource_but_its_document_needs_a_valid_token(
    app: Flask, client: FlaskClient
) -> None:
    resources = _rules(app, "/api/v1/", "GET") + _rules(app, "/api/v1/", "POST")
    assert len(resources) >= 10
    for rule in resources:
        path = _path(rule)
        if rule.endpoint == "api_v1.openapi":
            assert client.get(path).status_code == 200, "the document is public"
            continue
        method = client.post if "POST" in (rule.methods or ()) else client.get
        for headers in ({}, bearer("mh_forged"), {"Authorization": "Basic cm9vdDpyb290"}):
            response = method(path, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.fixture
def other_units_recording(app: Flask, db_session: Session) -> tuple[str, str]:
    """A case of the water company's with a stored recording: (case number, recording sid)."""
    number = open_case(app, db_session, unit="water_supply", category="utilities")
    sid = attach_recording(db_session, number, "7", RecordingState.STORED)
    return number, sid


def test_a_unit_reaches_no_other_units_case_or_recording(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    other_units_recording: tuple[str, str],
) -> None:
    theirs, sid = other_units_recording
    city = add_user(db_session, "city", Role.UNIT, unit="city_management")
    token = token_for(db_session, city)
    before = _written(db_session)

    api = [
        client.get(f"/api/v1/cases/{theirs}", headers=bearer(token)),
        client.post(
            f"/api/v1/cases/{theirs}/actions", json={"action": "accept"}, headers=bearer(token)
        ),
        client.get(f"/api/v1/recordings/{sid}", headers=bearer(token)),
        client.get(f"/api/v1/recordings/{sid}/media", headers=bearer(token)),
    ]
    assert [r.status_code for r in api] == [403, 403, 403, 403]
    listing = client.get("/api/v1/cases?unit=water_supply", headers=bearer(token)).get_json()
    assert theirs not in {c["number"] for c in listing["items"]}, "the filter cannot widen it"

    login(client, "city")
    own_token = csrf_of(client, "/console/cases")
    console = [
        client.get(f"/console/cases/{theirs}"),
        client.post(f"/console/cases/{theirs}/act", data={"action": "accept", "csrf": own_token}),
        client.get(f"/console/recordings/{sid}"),
    ]
    assert [r.status_code for r in console] == [403, 403, 403]
    assert _written(db_session) == before
    state = db_session.scalar(select(Case.state).where(Case.number == theirs))
    assert state is not None and state.value == "dispatched", "untouched"


@pytest.mark.parametrize(
    "path",
    [
        "/console/static/../../app.py",
        "/console/static/%2e%2e/%2e%2e/app.py",
        "/console/static/..%2f..%2fapp.py",
        "/static/../app.py",
        "/static/..%2f..%2fpyproject.toml",
        "/console/recordings/..%2f..%2fapp.py",
        "/console/recordings/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/api/v1/recordings/..%2f..%2fapp.py/media",
    ],
)
def test_no_path_reads_a_file_it_should_not(
    client: FlaskClient, db_session: Session, path: str
) -> None:
    token = token_for(db_session, add_user(db_session, "boss", Role.SUPERVISOR))
    login(client, "boss")
    response = client.get(path, headers=bearer(token))
    body = response.get_data()
    assert response.status_code in (400, 403, 404), (path, response.status_code)
    assert b"create_app" not in body and b"[project]" not in body
    served = client.get("/console/static/console.css")
    assert served.status_code == 200, "what is meant is served"
    served.close()


def test_recording_storage_keeps_every_key_inside_its_directory(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "recordings")
    (tmp_path / "secret.wav").write_bytes(b"not yours")
    for key in ("../secret.wav", "2026/../../secret.wav", "/etc/passwd", "a\\..\\b.wav", ""):
        with pytest.raises(StorageError):
            storage.open(key)
    storage.put("2026/12/01/RE1.wav", [b"RIFF"])
    with storage.open("2026/12/01/RE1.wav") as stored:
        assert stored.read() == b"RIFF"
