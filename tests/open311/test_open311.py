"""Open311 GeoReport v2: our own tests of the standard's rules, and an independent published
client (PyPI's `georeport`) reading services and requests in JSON and in XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from georeport import georeport as georeport_module
from georeport.georeport import GeoReport
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import Case, CaseSource
from cases.workflow import CaseState
from core.jobs import Job
from staff.models import Role
from tests.support.staff import add_user, open_case, token_for

BASE = "/open311/v2"


@pytest.fixture
def api_key(db_session: Session) -> str:
    return token_for(db_session, add_user(db_session, "city-app", Role.CLIENT))


def file_request(client: FlaskClient, key: str, fmt: str = "json", **fields: str) -> Any:
    form = {
        "api_key": key,
        "service_code": "city_management",
        "lat": "27.3375",
        "long": "117.4921",
        "description": "中山路口的路灯一直不亮",
        "phone": "13800138000",
        **fields,
    }
    return client.post(f"{BASE}/requests.{fmt}", data=form)


def test_a_city_app_files_a_request_into_the_same_loop(
    client: FlaskClient, db_session: Session, api_key: str
) -> None:
    response = file_request(client, api_key, address_string="邵武市中山路 12 号")
    assert response.status_code == 201
    ((entry),) = response.get_json()
    number = entry["service_request_id"]
    assert "紧急情况请直接拨打110" in entry["service_notice"]

    case = db_session.scalar(select(Case).where(Case.number == number))
    assert case is not None
    assert (case.source, case.category) == (CaseSource.OPEN311, "city_management")
    assert (case.state, case.unit_code) == (CaseState.DISPATCHED, "city_management")
    assert (case.latitude, case.longitude, case.address) == (
        27.3375,
        117.4921,
        "邵武市中山路 12 号",
    )
    assert case.caller_number == "+8613800138000"
    texts = db_session.scalars(select(Job.key).where(Job.kind == "sms.send")).all()
    assert f"case-received:{number}" in texts, "the filer gets the number by SMS, like a caller"

    (shown,) = client.get(f"{BASE}/requests/{number}.json").get_json()
    assert shown["status"] == "open"
    assert shown["description"] == "中山路口的路灯一直不亮"
    assert shown["agency_responsible"] == "城管执法大队"
    (token,) = client.get(f"{BASE}/tokens/{number}.json").get_json()
    assert token == {"service_request_id": number, "token": number}


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({"api_key": ""}, 403, "a valid api_key is required"),
        ({"api_key": "mh_forged"}, 403, "a valid api_key is required"),
        ({"service_code": "fire"}, 400, "service_code: not one of our services"),
        ({"lat": "", "long": ""}, 400, "a location is required"),
        ({"lat": "91"}, 400, "lat: from -90 to 90"),
        ({"long": ""}, 400, "lat and long: give both or neither"),
        ({"phone": "12"}, 400, "phone:"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url: an http(s) URL"),
        ({"description": "长" * 4001}, 400, "description: at most 4000 characters"),
    ],
)
def test_a_bad_request_gets_the_standards_error_list(
    client: FlaskClient,
    db_session: Session,
    api_key: str,
    fields: dict[str, str],
    status: int,
    reason: str,
) -> None:
    response = file_request(client, api_key, **fields)
    assert response.status_code == status
    ((error),) = response.get_json()
    assert error["code"] == status and error["description"].startswith(reason)
    assert db_session.scalars(select(Case)).all() == [], "nothing half-written"

    as_xml = file_request(client, api_key, fmt="xml", **fields)
    root = ET.fromstring(as_xml.get_data())  # noqa: S314 (our own output)
    assert root.tag == "errors"
    assert root.findtext("error/code") == str(status)


def test_reading_keeps_callers_private(
    app: Flask, client: FlaskClient, db_session: Session, api_key: str
) -> None:
    phoned = open_case(app, db_session)
    hidden = open_case(app, db_session, confidential=True)
    ((filed),) = file_request(client, api_key).get_json()
    listing = client.get(f"{BASE}/requests.json").get_json()
    by_id = {r["service_request_id"]: r for r in listing}

    assert hidden not in by_id, "a confidential case is never listed"
    assert by_id[phoned]["description"] == "", "what a caller said on the phone stays private"
    assert by_id[filed["service_request_id"]]["description"] == "中山路口的路灯一直不亮"
    assert client.get(f"{BASE}/requests/{hidden}.json").status_code == 404
    only = client.get(f"{BASE}/requests.json?service_request_id={phoned}").get_json()
    assert [r["service_request_id"] for r in only] == [phoned]
    closed = client.get(f"{BASE}/requests.json?status=closed").get_json()
    assert closed == []
    too_long = client.get(
        f"{BASE}/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-11-01T00:00:00Z"
    )
    assert too_long.status_code == 400
    assert too_long.get_json()[0]["description"] == "start_date to end_date: at most 90 days"


# ------------------------------------------------------------------ an independent client


class WsgiAdapter(requests.adapters.BaseAdapter):
    """Lets `requests` (and so the client) talk to the app in-process, through its test client."""

    def __init__(self, client: FlaskClient) -> None:
        super().__init__()
        self.client = client

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        url = urlsplit(request.url or "")
        answer = self.client.open(
            url.path,
            method=request.method or "GET",
            query_string=url.query,
            headers=dict(request.headers),
            data=request.body,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.get_data()
        response.headers.update(dict(answer.headers))
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def georeport_http(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The client's `requests.get` reaches the app (the client's code is untouched)."""
    session = requests.Session()
    session.mount("https://", WsgiAdapter(client))

    def get(url: str, params: Any = None, **kwargs: Any) -> requests.Response:
        return session.get(url, params=params, **kwargs)

    monkeypatch.setattr(georeport_module.requests, "get", get)
    yield
    session.close()


@pytest.mark.parametrize("output_format", ["json", "xml"])
def test_an_independent_open311_client_reads_services_and_requests(
    client: FlaskClient,
    db_session: Session,
    api_key: str,
    georeport_http: None,
    output_format: str,
) -> None:
    first = file_request(client, api_key).get_json()[0]["service_request_id"]
    second = file_request(client, api_key, service_code="utilities", address_string="水南街")
    second_id = second.get_json()[0]["service_request_id"]
    city = GeoReport("https://hotline.example.org/open311/v2", output_format=output_format)

    services = city.get_service_list()
    codes = [s["service_code"] for s in services]
    assert "city_management" in codes and "utilities" in codes
    assert "fire" not in codes, "emergencies are for the phone, not for apps"
    definition = city.get_service_definition("city_management")
    assert definition["service_code"] == "city_management"

    found = city.get_service_requests(status="open", service_code="city_management,utilities")
    ids = {r["service_request_id"] for r in found}
    assert ids == {first, second_id}
    one = city.get_service_request(second_id)
    assert one["service_code"] == "utilities"
    assert one["status"] == "open"
    assert one["address"] == "水南街"
