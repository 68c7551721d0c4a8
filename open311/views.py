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

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select

from cases import service as cases
from cases.intake import after_intake
from cases.models import Case, CaseSource
from cases.workflow import CaseState
from core import db
from core.calendar import stored_holidays
from core.categories import CATEGORIES
from core.db import utcnow
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
FILERS = (Role.CLIENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error) -> Response:
    db.session().rollback()
    return _render(
        [{"code": exc.status, "description": exc.description}],
        "errors",
        "error",
        status=exc.status,
    )


@bp.errorhandler(404)
def _not_found(_exc: Exception) -> Response:
    return _render([{"code": 404, "description": "no such resource"}], "errors", "error", 404)


@bp.errorhandler(405)
def _not_allowed(_exc: Exception) -> Response:
    return _render([{"code": 405, "description": "method not allowed"}], "errors", "error", 405)


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"format must be json or xml, not {fmt[:10]!r}")
    return fmt


def _render(
    items: Sequence[Mapping[str, Any]], root: str, item: str, status: int = 200
) -> Response:
    """A list in the request's format (the extension of the path; JSON if none)."""
    fmt = (request.view_args or {}).get("fmt", "json")
    if fmt == "xml":
        top = ET.Element(root)
        for entry in items:
            element = ET.SubElement(top, item)
            for key, value in entry.items():
                _xml_value(ET.SubElement(element, key), value)
        body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")
        return Response(body, status=status, mimetype="text/xml")
    response = jsonify(list(items))
    response.status_code = status
    return response


def _xml_value(element: ET.Element, value: Any) -> None:
    if isinstance(value, list):
        for child in value:
            sub = ET.SubElement(element, "attribute" if isinstance(child, dict) else "value")
            if isinstance(child, dict):
                for key, inner in child.items():
                    _xml_value(ET.SubElement(sub, key), inner)
            else:
                sub.text = str(child)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def _service(code: str, language: str) -> dict[str, Any]:
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
    asked = request.args.get("locale", "") or request.accept_languages.best_match(["zh", "en"])
    return "en" if (asked or "").lower().startswith("en") else "zh"


@bp.get("/discovery.<fmt>")
def discovery(fmt: str) -> Response:
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
    if fmt == "json":
        return jsonify(entry)
    return _render([entry], "discovery", "discovery")


@bp.get("/services.<fmt>")
def services(fmt: str) -> Response:
    _format(fmt)
    language = _language()
    return _render([_service(c, language) for c in CATEGORIES.service], "services", "service")


@bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str) -> Response:
    _format(fmt)
    if code not in CATEGORIES.service:
        raise Open311Error(404, f"no service {code[:40]!r}")
    definition = {"service_code": code, "attributes": []}
    if fmt == "json":
        return jsonify(definition)
    top = ET.Element("service_definition")
    ET.SubElement(top, "service_code").text = code
    ET.SubElement(top, "attributes")
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")
    return Response(body, mimetype="text/xml")


@bp.post("/requests.<fmt>")
def create_request(fmt: str) -> Response:
    _format(fmt)
    form = request.form
    client = staff.user_for_token(form.get("api_key", ""), session=db.session())
    if client is None or client.role not in FILERS:
        raise Open311Error(403, "a valid api_key is required to file a request")
    code = form.get("service_code", "")
    if code not in CATEGORIES.service:
        raise Open311Error(400, f"service_code: not one of our services ({code[:40]!r})")
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
    if "\x00" in description:
        raise Open311Error(400, "description: no NUL characters")
    media_url = form.get("media_url", "").strip() or None
    if media_url and (urlsplit(media_url).scheme not in ("http", "https") or len(media_url) > 500):
        raise Open311Error(400, "media_url: an http(s) URL of at most 500 characters")
    phone = None
    if form.get("phone"):
        try:
            phone = to_e164(form["phone"][:32], settings().default_region)
        except InvalidPhoneNumber as exc:
            raise Open311Error(400, f"phone: {exc}") from None
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


def _coordinate(raw: str | None, low: float, high: float, name: str) -> float | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name}: a decimal number") from None
    if not low <= value <= high:
        raise Open311Error(400, f"{name}: from {low:g} to {high:g}")
    return value


@bp.get("/requests.<fmt>")
def list_requests(fmt: str) -> Response:
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
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name}: a w3 datetime, e.g. 2026-11-01T00:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=settings().tz)


@bp.get("/requests/<number>.<fmt>")
def get_request(number: str, fmt: str) -> Response:
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
        "address": case.address if public else "",
        "address_id": "",
        "zipcode": "",
        "lat": case.latitude if public else None,
        "long": case.longitude if public else None,
        "media_url": case.media_url if public else "",
    }


def _iso(value: dt.datetime) -> str:
    return value.astimezone(settings().tz).isoformat(timespec="seconds")
