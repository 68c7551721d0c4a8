"""The JSON API: tokens and roles, pagination, errors — and schemathesis against its OpenAPI
document, which must describe what the routes really accept and return."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import Session

from staff.models import Role
from tests.support import GARBLED_DAYS, GARBLED_NUMBERS
from tests.support.staff import add_user, bearer, open_case, token_for


def test_every_route_needs_a_valid_token(client: FlaskClient, db_session: Session) -> None:
    for path in ("/api/v1/cases", "/api/v1/calls", "/api/v1/figures", "/api/v1/roster/now"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["reason"].startswith("a valid bearer token")
    assert client.get("/api/v1/cases", headers=bearer("mh_forged")).status_code == 401
    assert client.get("/api/v1/openapi.json").status_code == 200, "the document is public"


def test_roles_decide_what_a_token_reaches(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    unit = token_for(db_session, add_user(db_session, "city", Role.UNIT, "city_management"))
    app_token = token_for(db_session, add_user(db_session, "wechat", Role.CLIENT))
    ours = open_case(app, db_session, unit="city_management")
    theirs = open_case(app, db_session, unit="water_supply", category="utilities")

    listing = client.get("/api/v1/cases", headers=bearer(unit)).get_json()
    assert [c["number"] for c in listing["items"]] == [ours]
    assert client.get(f"/api/v1/cases/{theirs}", headers=bearer(unit)).status_code == 403
    assert client.get("/api/v1/calls", headers=bearer(unit)).status_code == 403
    assert client.get("/api/v1/cases", headers=bearer(app_token)).status_code == 403

    dispatch = client.post(
        f"/api/v1/cases/{ours}/actions",
        json={"action": "dispatch", "unit": "water_supply"},
        headers=bearer(unit),
    )
    assert dispatch.status_code == 403
    accepted = client.post(
        f"/api/v1/cases/{ours}/actions", json={"action": "accept"}, headers=bearer(unit)
    )
    assert accepted.status_code == 200
    assert accepted.get_json()["state"] == "accepted"
    again = client.post(
        f"/api/v1/cases/{ours}/actions", json={"action": "accept"}, headers=bearer(unit)
    )
    assert again.status_code == 409
    assert "cannot accept" in again.get_json()["reason"]
    detail = client.get(f"/api/v1/cases/{ours}", headers=bearer(unit)).get_json()
    assert [e["action"] for e in detail["timeline"]] == ["receive", "dispatch", "accept"]


def test_lists_are_paginated(app: Flask, client: FlaskClient, db_session: Session) -> None:
    admin = token_for(db_session, add_user(db_session, "root", Role.ADMIN))
    numbers = [open_case(app, db_session) for _ in range(3)]
    first = client.get("/api/v1/cases?limit=2", headers=bearer(admin)).get_json()
    assert [c["number"] for c in first["items"]] == numbers[::-1][:2]
    assert first["next_offset"] == 2
    rest = client.get("/api/v1/cases?limit=2&offset=2", headers=bearer(admin)).get_json()
    assert [c["number"] for c in rest["items"]] == numbers[:1]
    assert rest["next_offset"] is None
    bad = client.get("/api/v1/cases?limit=0", headers=bearer(admin))
    assert bad.status_code == 400
    assert bad.get_json()["reason"] == "limit: a whole number from 1 to 200"


def test_a_confidential_callers_number_is_never_in_the_api(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    admin = token_for(db_session, add_user(db_session, "root", Role.ADMIN))
    number = open_case(app, db_session, confidential=True)
    body = client.get(f"/api/v1/cases/{number}", headers=bearer(admin)).get_json()
    assert body["confidential"] is True and body["caller"] is None


# ---------------------------------------------------------------------------- schemathesis


def test_the_api_matches_its_openapi_document(app: Flask, db_session: Session) -> None:
    """Every operation, with schemathesis's generated requests (valid and invalid): no 5xx, and
    every status, header and body as the document says."""
    token = token_for(db_session, add_user(db_session, "fuzz", Role.ADMIN))
    for _ in range(2):
        open_case(app, db_session)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 12 - 1, "every route but the document itself"

    for operation in operations:
        # A period must run forwards and last at most a year: a rule between two parameters that
        # OpenAPI cannot state, so a "schema-valid" period may rightly get a 400 there.
        excluded = [positive_data_acceptance] if operation.label == "GET /figures" else []
        fuzz(operation, {"Authorization": f"Bearer {token}"}, excluded)


def fuzz(operation: Any, headers: dict[str, str], excluded: list[Any]) -> None:
    """Schemathesis's generated requests for one operation, each checked against the document."""

    @given(case=operation.as_strategy())
    @hsettings(
        max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    run()


def test_a_unit_given_to_an_action_that_takes_none_is_a_bad_request(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    admin = token_for(db_session, add_user(db_session, "root", Role.ADMIN))
    number = open_case(app, db_session)
    response = client.post(
        f"/api/v1/cases/{number}/actions",
        json={"action": "escalate", "unit": "water_supply"},
        headers=bearer(admin),
    )
    assert response.status_code == 400
    assert response.get_json()["reason"] == "unit: only dispatch takes a unit, not escalate"


#: Numbers Python's int() or str.isdigit() would take and the API must not.
GARBLED = [*GARBLED_NUMBERS, "", " 5"]


@pytest.mark.parametrize("value", GARBLED)
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/cases", "limit"),
        ("/api/v1/cases", "offset"),
        ("/api/v1/calls", "limit"),
        ("/api/v1/calls", "offset"),
        ("/api/v1/calls", "hours"),
        ("/api/v1/surveys", "limit"),
        ("/api/v1/surveys", "offset"),
    ],
)
def test_a_garbled_number_in_the_query_is_a_json_400(
    client: FlaskClient, db_session: Session, path: str, name: str, value: str
) -> None:
    admin = token_for(db_session, add_user(db_session, "root", Role.ADMIN))
    response = client.get(path, query_string={name: value}, headers=bearer(admin))
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "Bad Request"
    assert body["reason"].startswith(f"{name}: a whole number from ")


@pytest.mark.parametrize("value", [*GARBLED_DAYS, "2026-13-01", "2026-11-01T00:00"])
@pytest.mark.parametrize("name", ["from", "to"])
def test_a_garbled_date_of_the_figures_is_a_json_400(
    client: FlaskClient, db_session: Session, name: str, value: str
) -> None:
    admin = token_for(db_session, add_user(db_session, "root", Role.ADMIN))
    response = client.get("/api/v1/figures", query_string={name: value}, headers=bearer(admin))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "Bad Request"
    assert response.get_json()["reason"]
