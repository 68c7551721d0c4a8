"""Open311 GeoReport v2 (`/open311/v2`): city apps file and follow requests in the same queue
as phoned-in ones.

https://wiki.open311.org/GeoReport_v2 — every resource in JSON and XML (`.json` / `.xml`);
errors as a list of `{code, description}` (XML: `<errors><error>…`) with the HTTP status.
Filing a request needs an `api_key`: an API token (`hotline users token`) of a `client` (a city
app) or of the center's staff. Reading is public, as the standard intends, with privacy kept:
confidential cases are never listed, and a phoned-in case shows its category but not what the
caller said (that is personal; a request filed through Open311 was written to be public).

The service codes are the hotline's service categories; emergencies are not services here (an
app must send people to the phone: "紧急情况请直接拨打110").
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from cases import service as cases
from cases.intake import after_intake
from cases.models import Case, CaseSource
from cases.workflow import CaseState
from core import db
from core.calendar import stored_holidays
from core.categories import CATEGORIES
from core.db import utcnow
from core.inputs import BadInput, decimal, email, has_control_characters, moment, xml_safe
from core.phone import InvalidPhoneNumber, to_e164
from core.webhooks import settings
from ivr import config as ivr_config
from staff import service as staff
from staff.models import Role

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
FORMATS = ("json", "xml")
#: The standard's default window for GET requests, and its most results.
DEFAULT_WINDOW = dt.timedelta(days=90)
MAX_RESULTS = 1000
MAX_DESCRIPTION = 4000
MAX_NAME = 64
FILERS = (Role.CLIENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)
#: Every text answer says it is UTF-8, as the standard requires.
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
#: In XML a list is an element of the list's name holding one element per item, named as the
#: standard names them (discovery: `<endpoints><endpoint>`, `<formats><format>`; a service
#: definition: `<attributes><attribute>`, `<values><value>`).
XML_ITEMS = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}
#: A coordinate as a client may write it: ASCII digits, an optional minus sign and fraction
#: (no exponent, no `nan`/`inf`, none of the other digits Python's `float` would read).


class Open311Error(Exception):
    """A request the standard's error list answers: HTTP status and a description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error) -> Response:
    """A refusal of ours, in the standard's error list; nothing half-written is kept."""
    db.session().rollback()
    return _render(
        [{"code": exc.status, "description": exc.description}],
        "errors",
        "error",
        status=exc.status,
    )


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    """Any other refusal (e.g. the app's own check for NUL characters, a body too large) in
    Open311's error list, not the app's generic JSON."""
    db.session().rollback()
    status = exc.code or 400
    description = exc.description or exc.name
    return _render([{"code": status, "description": description}], "errors", "error", status)


@bp.errorhandler(404)
def _not_found(_exc: Exception) -> Response:
    """An unknown resource, in the standard's error list."""
    return _render([{"code": 404, "description": "no such resource"}], "errors", "error", 404)


@bp.errorhandler(405)
def _not_allowed(_exc: Exception) -> Response:
    """A method the resource does not take, in the standard's error list."""
    return _render([{"code": 405, "description": "method not allowed"}], "errors", "error", 405)


def _format(fmt: str) -> str:
    """`fmt` if it is one the standard defines (json, xml); 404 if not."""
    if fmt not in FORMATS:
        raise Open311Error(404, f"format must be json or xml, not {fmt[:10]!r}")
    return fmt


def _requested_format() -> str:
    """The format the path asks for (its extension; JSON if none or unknown)."""
    fmt = (request.view_args or {}).get("fmt", "json")
    return "xml" if fmt == "xml" else "json"


def _json(payload: Any, status: int = 200) -> Response:
    """`payload` as a JSON answer that names its charset."""
    return Response(current_app.json.dumps(payload), status=status, content_type=JSON_TYPE)


def _xml(top: ET.Element, status: int = 200) -> Response:
    """`top` as an XML document with the declaration the standard asks for."""
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")
    return Response(body, status=status, content_type=XML_TYPE)


def _render(
    items: Sequence[Mapping[str, Any]], root: str, item: str, status: int = 200
) -> Response:
    """A list in the request's format: a JSON array, or `<root><item>…</item>…</root>`."""
    if _requested_format() == "xml":
        top = ET.Element(root)
        for entry in items:
            _xml_fields(ET.SubElement(top, item), entry)
        return _xml(top, status)
    return _json(list(items), status)


def _render_one(entry: Mapping[str, Any], root: str) -> Response:
    """One object in the request's format: a JSON object, or an XML document rooted at `root`."""
    if _requested_format() == "xml":
        top = ET.Element(root)
        _xml_fields(top, entry)
        return _xml(top)
    return _json(dict(entry))


def _xml_fields(element: ET.Element, entry: Mapping[str, Any]) -> None:
    """Each field of `entry` as a child element of `element`."""
    for key, value in entry.items():
        _xml_value(ET.SubElement(element, key), value)


def _xml_value(element: ET.Element, value: Any) -> None:
    """`value` as the content of `element`: a list's items get the standard's singular name,
    and text loses what XML 1.0 cannot carry (stored text may hold it: old or phoned-in cases)."""
    if isinstance(value, list):
        for child in value:
            _xml_value(ET.SubElement(element, XML_ITEMS[element.tag]), child)
    elif isinstance(value, Mapping):
        _xml_fields(element, value)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = xml_safe(str(value))


def _service(code: str, language: str) -> dict[str, Any]:
    """The standard's description of service `code`, named in `language`."""
    rules = ivr_config.config().rules
    return {
        "service_code": code,
        "service_name": rules.name(code, language),
        "description": rules.name(code, "zh") + " / " + rules.name(code, "en"),
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": "民生110",
    }


def _language() -> str:
    """The language asked for (`locale`, else Accept-Language): "en" or "zh"."""
    asked = request.args.get("locale", "") or request.accept_languages.best_match(["zh", "en"])
    return "en" if (asked or "").lower().startswith("en") else "zh"


@bp.get("/discovery.<fmt>")
def discovery(fmt: str) -> Response:
    """Service discovery: where the endpoint is and which formats it speaks."""
    _format(fmt)
    base = settings().public_url("/open311/v2/")
    entry = {
        "changeset": "2026-11-25T00:00:00Z",
        "contact": "民生110 服务中心",
        "key_service": "hotline users token",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": base,
                "changeset": "2026-11-25T00:00:00Z",
                "type": "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }
    return _render_one(entry, "discovery")


@bp.get("/services.<fmt>")
def services(fmt: str) -> Response:
    """The list of services (our service categories)."""
    _format(fmt)
    language = _language()
    return _render([_service(c, language) for c in CATEGORIES.service], "services", "service")


@bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str) -> Response:
    """A service's definition: ours have no extra attributes."""
    _format(fmt)
    if code not in CATEGORIES.service:
        raise Open311Error(404, f"no service {code[:40]!r}")
    return _render_one({"service_code": code, "attributes": []}, "service_definition")


@bp.post("/requests.<fmt>")
def create_request(fmt: str) -> Response:
    """File a service request (an api_key is required); 201 with its number."""
    _format(fmt)
    form = request.form
    client = staff.user_for_token(form.get("api_key", ""), session=db.session())
    if client is None or client.role not in FILERS:
        raise Open311Error(403, "a valid api_key is required to file a request")
    _refuse_control_characters(form)
    code = _service_code(form.get("service_code", ""))
    lat, lon = (
        _coordinate(form.get("lat"), -90, 90, "lat"),
        _coordinate(form.get("long"), -180, 180, "long"),
    )
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long: give both or neither")
    address = form.get("address_string", "").strip()[:256] or None
    address_id = form.get("address_id", "").strip()[:64]
    if lat is None and address is None and not address_id:
        raise Open311Error(400, "a location is required: lat+long, address_string or address_id")
    description = form.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description: at most {MAX_DESCRIPTION} characters")
    media_url = form.get("media_url", "").strip() or None
    if media_url and (urlsplit(media_url).scheme not in ("http", "https") or len(media_url) > 500):
        raise Open311Error(400, "media_url: an http(s) URL of at most 500 characters")
    phone = None
    if form.get("phone"):
        try:
            phone = to_e164(form["phone"][:32], settings().default_region)
        except InvalidPhoneNumber as exc:
            raise Open311Error(400, f"phone: {exc}") from None
    contact = _contact(form)
    session = db.session()
    case = cases.create_case(
        session,
        call_sid=None,
        category=code,
        language=_language(),
        caller_number=phone,
        caller_raw=f"open311:{client.username}"[:64],
        transcript=description or "",
        source=CaseSource.OPEN311,
        tz=settings().tz,
        holidays=stored_holidays(session),
        actor=f"open311:{client.username}",
        where=cases.Where(
            address=address or (f"address_id:{address_id}" if address_id else None),
            latitude=lat,
            longitude=lon,
            media_url=media_url,
        ),
        contact=contact,
    )
    after_intake(session, case, case.language)
    session.commit()
    notice = f"已受理，工单号 {case.number}。紧急情况请直接拨打110。"
    return _render(
        [{"service_request_id": case.number, "service_notice": notice, "account_id": None}],
        "service_requests",
        "request",
        status=201,
    )


def _refuse_control_characters(form: MultiDict[str, str]) -> None:
    """Refuse a request any field of which holds a control character: what is stored is
    published, and no XML feed can carry such a character."""
    for name, value in form.items(multi=True):
        if has_control_characters(value):
            raise Open311Error(400, f"{xml_safe(name)[:40]}: no control characters")


def _contact(form: MultiDict[str, str]) -> cases.Contact:
    """The filer's name and e-mail address, as far as given: stored for staff, never published."""
    address = form.get("email", "").strip()
    try:
        checked = email(address, "email") if address else None
    except BadInput as exc:
        raise Open311Error(400, str(exc)) from None
    names = {}
    for field in ("first_name", "last_name"):
        name = form.get(field, "").strip()
        if len(name) > MAX_NAME:
            raise Open311Error(400, f"{field}: at most {MAX_NAME} characters")
        names[field] = name or None
    return cases.Contact(
        contact_first_name=names["first_name"],
        contact_last_name=names["last_name"],
        contact_email=checked,
    )


def _service_code(code: str) -> str:
    """`code` if it is one of our services: 400 if not given, 404 if unknown (the standard's
    "service_code provided was not found")."""
    if not code:
        raise Open311Error(400, "service_code: required")
    if code not in CATEGORIES.service:
        raise Open311Error(404, f"service_code: not one of our services ({code[:40]!r})")
    return code


def _coordinate(raw: str | None, low: float, high: float, name: str) -> float | None:
    """A latitude or longitude in [low, high], written in ASCII decimal; None if not given."""
    if raw is None or raw.strip() == "":
        return None
    try:
        return decimal(raw, name, low, high)
    except BadInput as exc:
        raise Open311Error(400, str(exc)) from None


@bp.get("/requests.<fmt>")
def list_requests(fmt: str) -> Response:
    """Public requests by id, or by service, window (90 days at most) and status."""
    _format(fmt)
    args = request.args
    query = select(Case).where(Case.confidential.is_(False))
    ids = [i.strip() for i in args.get("service_request_id", "").split(",") if i.strip()]
    if ids:
        query = query.where(Case.number.in_(ids[:MAX_RESULTS]))
    else:
        codes = [c.strip() for c in args.get("service_code", "").split(",") if c.strip()]
        if codes:
            query = query.where(Case.category.in_(codes))
        end = _w3(args.get("end_date"), "end_date") or utcnow()
        start = _w3(args.get("start_date"), "start_date") or end - DEFAULT_WINDOW
        if end < start:
            raise Open311Error(400, "end_date is before start_date")
        if end - start > DEFAULT_WINDOW:
            raise Open311Error(400, "start_date to end_date: at most 90 days")
        query = query.where(Case.created_at >= start, Case.created_at <= end)
        statuses = {s.strip() for s in args.get("status", "").split(",") if s.strip()}
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status: open, closed, or both (comma-delimited)")
        if statuses == {"open"}:
            query = query.where(Case.state != CaseState.CLOSED)
        elif statuses == {"closed"}:
            query = query.where(Case.state == CaseState.CLOSED)
    rows = db.session().scalars(
        query.order_by(Case.created_at.desc(), Case.id.desc()).limit(MAX_RESULTS)
    )
    return _render([_request_json(c) for c in rows], "service_requests", "request")


def _w3(raw: str | None, name: str) -> dt.datetime | None:
    """A w3 date and time parameter in UTC (between core.inputs' bounds); None if not given."""
    if raw is None or not raw.strip():
        return None
    try:
        return moment(raw, name, settings().tz)
    except BadInput as exc:
        raise Open311Error(400, str(exc)) from None


@bp.get("/requests/<number>.<fmt>")
def get_request(number: str, fmt: str) -> Response:
    """One public request by its number."""
    _format(fmt)
    case = db.session().scalar(
        select(Case).where(Case.number == number[:32], Case.confidential.is_(False))
    )
    if case is None:
        raise Open311Error(404, f"no service request {number[:32]!r}")
    return _render([_request_json(case)], "service_requests", "request")


@bp.get("/tokens/<token>.<fmt>")
def get_token(token: str, fmt: str) -> Response:
    """Requests are numbered at once, so a token is the request's own id."""
    _format(fmt)
    case = db.session().scalar(
        select(Case).where(Case.number == token[:32], Case.source == CaseSource.OPEN311)
    )
    if case is None:
        raise Open311Error(404, f"no request for token {token[:32]!r}")
    return _render(
        [{"service_request_id": case.number, "token": token}], "service_requests", "request"
    )


def _request_json(case: Case) -> dict[str, Any]:
    """`case` as the standard's service request, keeping what a caller said private."""
    units = current_app.extensions["hotline.units"]
    unit = units.get(case.unit_code or "")
    public = case.source is CaseSource.OPEN311
    closed = case.state is CaseState.CLOSED
    return {
        "service_request_id": case.number,
        "status": "closed" if closed else "open",
        "status_notes": case.feedback if closed and public and case.feedback else case.state.value,
        "service_name": _service(case.category, "zh")["service_name"],
        "service_code": case.category,
        "description": case.transcript if public else "",
        "agency_responsible": unit.name_zh if unit else "民生110服务中心",
        "service_notice": "",
        "requested_datetime": _iso(case.created_at),
        "updated_datetime": _iso(case.updated_at),
        "expected_datetime": _iso(case.due_at),
        "address": case.address if public else None,
        "address_id": "",
        "zipcode": "",
        "lat": case.latitude if public else None,
        "long": case.longitude if public else None,
        "media_url": (case.media_url or None) if public else None,
    }


def _iso(value: dt.datetime) -> str:
    """`value` as a w3 date and time in the center's time zone."""
    return value.astimezone(settings().tz).isoformat(timespec="seconds")
