"""Open311 GeoReport v2: our own tests of the standard's rules, and an independent published
client (PyPI's `georeport`) reading services and requests in JSON and in XML."""

from __future__ import annotations

import datetime as dt
import json
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
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cases.models import Case, CaseSource
from cases.workflow import CaseState
from core.jobs import Job
from staff.models import Role
from tests.support.staff import add_user, bearer, login, open_case, token_for

BASE = "/open311/v2"
FORMATS = ("json", "xml")


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
        ({"service_code": "fire"}, 404, "service_code: not one of our services"),
        ({"service_code": ""}, 400, "service_code: required"),
        ({"lat": "", "long": ""}, 400, "a location is required"),
        ({"lat": "91"}, 400, "lat: from -90 to 90"),
        ({"long": ""}, 400, "lat and long: give both or neither"),
        ({"phone": "12"}, 400, "phone:"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url: an http(s) URL"),
        ({"description": "长" * 4001}, 400, "description: at most 4000 characters"),
        ({"email": "li.ming"}, 400, "email: an e-mail address"),
        ({"email": "a b@shaowu.gov.cn"}, 400, "email: an e-mail address"),
        ({"email": "x" * 250 + "@a.cn"}, 400, "email: an e-mail address"),
        ({"first_name": "明" * 65}, 400, "first_name: at most 64 characters"),
        ({"last_name": "李" * 65}, 400, "last_name: at most 64 characters"),
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


def case_count(db_session: Session) -> int:
    """How many cases the database holds."""
    return db_session.scalar(select(func.count()).select_from(Case)) or 0


def parsed_xml(response: Any) -> ET.Element:
    """The root of an XML answer (it must parse)."""
    return ET.fromstring(response.get_data())  # noqa: S314 (our own output)


@pytest.mark.parametrize("field", ["description", "address_string", "first_name", "email"])
@pytest.mark.parametrize("character", ["\x0b", "\x07", "\x1b", "\x85"])
def test_a_control_character_is_refused_at_intake(
    client: FlaskClient, db_session: Session, api_key: str, field: str, character: str
) -> None:
    before = case_count(db_session)
    for fmt in FORMATS:
        response = file_request(client, api_key, fmt=fmt, **{field: f"路灯{character}坏了"})
        assert response.status_code == 400
        errors = response.get_json() if fmt == "json" else parsed_xml(response)
        if fmt == "json":
            ((error),) = errors
            assert error == {"code": 400, "description": f"{field}: no control characters"}
        else:
            assert errors.findtext("error/description") == f"{field}: no control characters"
    assert case_count(db_session) == before, "nothing stored"


@pytest.mark.parametrize("field", ["description", "last_name"])
def test_a_nul_character_is_refused_in_the_standards_error_list(
    client: FlaskClient, db_session: Session, api_key: str, field: str
) -> None:
    """The app refuses NUL before Open311 sees the form (app.py); the answer is still ours."""
    before = case_count(db_session)
    response = file_request(client, api_key, **{field: "路灯\x00坏了"})
    assert response.status_code == 400
    ((error),) = response.get_json()
    assert error == {"code": 400, "description": "NUL characters are not allowed"}
    root = parsed_xml(file_request(client, api_key, fmt="xml", **{field: "\x00"}))
    assert (root.tag, root.findtext("error/code")) == ("errors", "400")
    assert case_count(db_session) == before, "nothing stored"


def test_stored_control_characters_never_break_the_feed(
    client: FlaskClient, db_session: Session, api_key: str
) -> None:
    """Rows from before the intake check (or written directly) still give feeds that parse."""
    number = file_request(client, api_key).get_json()[0]["service_request_id"]
    db_session.execute(
        update(Case)
        .where(Case.number == number)
        .values(transcript="路灯\x0b坏了\x07", address="水南街\x0c1 号")
    )
    db_session.commit()

    for path in ("requests.xml", f"requests/{number}.xml"):
        root = parsed_xml(client.get(f"{BASE}/{path}"))
        (entry,) = [r for r in root if r.findtext("service_request_id") == number]
        assert entry.findtext("description") == "路灯坏了"
        assert entry.findtext("address") == "水南街1 号"
    listing = json.loads(client.get(f"{BASE}/requests.json").get_data())
    (shown,) = [r for r in listing if r["service_request_id"] == number]
    assert shown["description"] == "路灯\x0b坏了\x07", "JSON escapes it and keeps it"


def test_discovery_follows_the_standards_layout(client: FlaskClient) -> None:
    root = parsed_xml(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert [child.tag for child in root] == ["changeset", "contact", "key_service", "endpoints"]
    (endpoint,) = root.findall("endpoints/*")
    assert endpoint.tag == "endpoint"
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint.findtext("url", "").endswith("/open311/v2/")
    assert endpoint.findtext("type") == "production"
    formats = endpoint.findall("formats/*")
    assert {f.tag for f in formats} == {"format"}
    assert sorted(f.text or "" for f in formats) == ["application/json", "text/xml"]
    assert not list(root.iter("attribute")) and not list(root.iter("value"))

    document = client.get(f"{BASE}/discovery.json").get_json()
    assert document["contact"] == root.findtext("contact")
    assert sorted(document["endpoints"][0]["formats"]) == ["application/json", "text/xml"]

    definition = parsed_xml(client.get(f"{BASE}/services/city_management.xml"))
    assert definition.tag == "service_definition"
    assert [child.tag for child in definition] == ["service_code", "attributes"]


def test_absent_media_is_null(
    app: Flask, client: FlaskClient, db_session: Session, api_key: str
) -> None:
    phoned = open_case(app, db_session)
    filed = file_request(client, api_key).get_json()[0]["service_request_id"]
    pictured = file_request(client, api_key, media_url="https://img.example.org/1.jpg")
    with_media = pictured.get_json()[0]["service_request_id"]

    listing = {r["service_request_id"]: r for r in client.get(f"{BASE}/requests.json").get_json()}
    assert listing[phoned]["media_url"] is None
    assert listing[phoned]["address"] is None, "a phoned-in case publishes no address: null"
    assert listing[filed]["media_url"] is None
    assert listing[with_media]["media_url"] == "https://img.example.org/1.jpg"
    root = parsed_xml(client.get(f"{BASE}/requests.xml"))
    media = {r.findtext("service_request_id"): r.find("media_url") for r in root}
    for number in (phoned, filed):
        element = media[number]
        assert element is not None and element.text is None and len(element) == 0
    assert media[with_media] is not None
    assert media[with_media].text == "https://img.example.org/1.jpg"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "path",
    [
        "discovery",
        "services",
        "services/city_management",
        "services/nope",
        "requests",
        "requests/none",
        "tokens/none",
    ],
)
def test_every_answer_names_its_charset(client: FlaskClient, path: str) -> None:
    for fmt, mimetype in (("json", "application/json"), ("xml", "text/xml")):
        response = client.get(f"{BASE}/{path}.{fmt}")
        assert response.mimetype == mimetype
        assert response.mimetype_params == {"charset": "utf-8"}
        assert response.get_data().decode("utf-8")


def test_an_unknown_service_code_is_not_found_and_nothing_is_stored(
    client: FlaskClient, db_session: Session, api_key: str
) -> None:
    before = case_count(db_session)
    response = file_request(client, api_key, service_code="no_such_service")
    assert response.status_code == 404
    ((error),) = response.get_json()
    assert error["code"] == 404
    assert error["description"] == "service_code: not one of our services ('no_such_service')"
    assert case_count(db_session) == before


ABSURD_MOMENTS = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
    "2200-01-01T00:00:00Z",
    "\uff12\uff10\uff12\uff16-11-01T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "yesterday",
]


@pytest.mark.parametrize("name", ["start_date", "end_date"])
@pytest.mark.parametrize("value", ABSURD_MOMENTS)
def test_an_absurd_date_is_refused_with_the_error_list(
    client: FlaskClient, name: str, value: str
) -> None:
    for fmt in FORMATS:
        response = client.get(f"{BASE}/requests.{fmt}", query_string={name: value})
        assert response.status_code == 400
        if fmt == "json":
            ((error),) = response.get_json()
            assert error["code"] == 400 and error["description"].startswith(f"{name}: ")
        else:
            root = parsed_xml(response)
            assert root.findtext("error/code") == "400"
            assert root.findtext("error/description", "").startswith(f"{name}: ")


def test_sensible_dates_still_select_requests(client: FlaskClient, api_key: str) -> None:
    number = file_request(client, api_key).get_json()[0]["service_request_id"]
    now = dt.datetime.now(dt.UTC)
    window = {
        "start_date": (now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": (now + dt.timedelta(hours=1)).isoformat(timespec="seconds"),
    }
    listing = client.get(f"{BASE}/requests.json", query_string=window).get_json()
    assert [r["service_request_id"] for r in listing] == [number]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lat", "\u0663"),
        ("lat", "\uff15"),
        ("lat", "\u00b2"),
        ("lat", "2\u0667.3"),
        ("lat", "nan"),
        ("lat", "inf"),
        ("lat", "1e1"),
        ("lat", "+27.3"),
        ("lat", "-90.0001"),
        ("long", "\u0661\u0661\u0667"),
        ("long", "180.5"),
        ("long", "-inf"),
        ("long", "0x1A"),
        ("long", "1_17"),
    ],
)
def test_a_coordinate_must_be_an_ascii_decimal_in_range(
    client: FlaskClient, db_session: Session, api_key: str, field: str, value: str
) -> None:
    before = case_count(db_session)
    response = file_request(client, api_key, **{field: value})
    assert response.status_code == 400
    ((error),) = response.get_json()
    assert error["code"] == 400 and error["description"].startswith(f"{field}: ")
    assert case_count(db_session) == before


def test_coordinates_at_the_edges_are_accepted(
    client: FlaskClient, db_session: Session, api_key: str
) -> None:
    response = file_request(client, api_key, lat="-90", long="180.0")
    assert response.status_code == 201
    number = response.get_json()[0]["service_request_id"]
    case = db_session.scalar(select(Case).where(Case.number == number))
    assert case is not None and (case.latitude, case.longitude) == (-90.0, 180.0)


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


def test_staff_see_where_a_request_is_on_the_case_page_and_in_the_api(
    client: FlaskClient, db_session: Session, api_key: str
) -> None:
    photo = "https://city.example.org/photos/lamp.jpg"
    filed = file_request(client, api_key, address_string="邵武市中山路 12 号", media_url=photo)
    ((entry),) = filed.get_json()
    number = entry["service_request_id"]
    supervisor = add_user(db_session, "boss", Role.SUPERVISOR)
    staff = client.application.test_client()

    login(staff, "boss")
    page = staff.get(f"/console/cases/{number}").get_data(as_text=True)
    assert "邵武市中山路 12 号" in page
    assert "27.33750, 117.49210" in page
    assert "openstreetmap.org/?mlat=27.3375&amp;mlon=117.4921" in page
    assert f'href="{photo}"' in page

    token = token_for(db_session, supervisor)
    case = client.get(f"/api/v1/cases/{number}", headers=bearer(token)).get_json()
    assert case["location"] == {
        "address": "邵武市中山路 12 号",
        "latitude": 27.3375,
        "longitude": 117.4921,
        "media_url": photo,
    }


def test_the_filers_name_and_email_reach_staff_and_are_never_published(
    client: FlaskClient, db_session: Session, api_key: str
) -> None:
    filed = file_request(
        client, api_key, first_name=" 明 ", last_name="李", email="li.ming@shaowu.example.cn"
    )
    number = filed.get_json()[0]["service_request_id"]
    case = db_session.scalar(select(Case).where(Case.number == number))
    assert case is not None
    assert (case.contact_first_name, case.contact_last_name, case.contact_email) == (
        "明",
        "李",
        "li.ming@shaowu.example.cn",
    )

    for path in ("requests", f"requests/{number}"):
        for fmt in FORMATS:
            published = client.get(f"{BASE}/{path}.{fmt}").get_data(as_text=True)
            assert number in published
            assert "li.ming" not in published and "李" not in published

    supervisor = add_user(db_session, "boss", Role.SUPERVISOR)
    staff = client.application.test_client()
    login(staff, "boss")
    page = staff.get(f"/console/cases/{number}").get_data(as_text=True)
    assert '<dd id="filer" translate="no">李明</dd>' in page, (
        "family name first on the Chinese page"
    )
    assert 'href="mailto:li.ming@shaowu.example.cn"' in page
    english = staff.get(f"/console/cases/{number}?lang=en").get_data(as_text=True)
    assert '<dd id="filer" translate="no">明 李</dd>' in english, "given name first in English"
    shown = client.get(f"/api/v1/cases/{number}", headers=bearer(token_for(db_session, supervisor)))
    assert shown.get_json()["contact"] == {
        "first_name": "明",
        "last_name": "李",
        "email": "li.ming@shaowu.example.cn",
    }


def test_a_confidential_or_anonymous_case_shows_no_contact(
    app: Flask, client: FlaskClient, db_session: Session, api_key: str
) -> None:
    anonymous = file_request(client, api_key).get_json()[0]["service_request_id"]
    named = file_request(client, api_key, first_name="明", email="li.ming@shaowu.example.cn")
    hidden = named.get_json()[0]["service_request_id"]
    db_session.execute(update(Case).where(Case.number == hidden).values(confidential=True))
    db_session.commit()
    token = token_for(db_session, add_user(db_session, "boss", Role.SUPERVISOR))

    for number in (anonymous, hidden):
        shown = client.get(f"/api/v1/cases/{number}", headers=bearer(token)).get_json()
        assert shown["contact"] is None
    staff = client.application.test_client()
    login(staff, "boss")
    page = staff.get(f"/console/cases/{hidden}").get_data(as_text=True)
    assert "li.ming" not in page and 'id="filer"' not in page
