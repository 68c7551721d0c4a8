"""What every `/api/v1` route shares: the blueprint, bearer authentication, JSON errors, the
role checks and pagination.

Every route but the OpenAPI document needs `Authorization: Bearer <token>`; the token acts as
its user (staff.service.api_user), and a `client` token reads nothing here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request
from werkzeug.exceptions import HTTPException

from cases import access
from cases.models import Case
from core import db
from core.inputs import BadInput, whole_number
from staff import service as staff
from staff.models import Role, StaffUser
from staff.service import CENTER

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
MAX_LIMIT = 200
MAX_OFFSET = 1_000_000
#: The one route without a token: the OpenAPI document (api/openapi.py).
PUBLIC_ENDPOINTS = frozenset({"api_v1.openapi"})


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    user = staff.api_user(session=db.session())
    if user is None:
        abort(401, description="a valid bearer token is required (Authorization: Bearer …)")
    if user.role is Role.CLIENT:
        abort(403, description="a client token files requests through Open311 only")
    g.user = user


@bp.errorhandler(HTTPException)
def _error(exc: HTTPException) -> tuple[Response, int]:
    db.session().rollback()
    code = exc.code or 500
    response = jsonify(error=exc.name, reason=exc.description)
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="minsheng-hotline"'
    return response, code


def user() -> StaffUser:
    current: StaffUser = g.user
    return current


def center_only() -> None:
    if user().role not in CENTER:
        abort(403, description="this resource is for the service center's roles")


def center_or_unit_case(case: Case | None) -> None:
    """Allow the center's roles; a unit contact only for a case of the unit."""
    if user().role in CENTER:
        return
    if case is None or not access.can_see_case(user(), case):
        abort(403, description="this belongs to another unit's case")


def page_args() -> tuple[int, int]:
    """The page a list asks for: ?limit= (1 to MAX_LIMIT, 50) and ?offset= (0 to MAX_OFFSET)."""
    limit = int_arg("limit", 50, 1, MAX_LIMIT)
    offset = int_arg("offset", 0, 0, MAX_OFFSET)
    return limit, offset


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """The query parameter `name` as a whole number in [low, high] (ASCII digits only, read by
    core.inputs.whole_number), `default` when it is absent; anything else is a 400."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return whole_number(raw, name, low, high)
    except BadInput as exc:
        abort(400, description=str(exc))


def paged(items: list[dict[str, Any]], limit: int, offset: int) -> Response:
    """`items` fetched with limit+1: the page, and where the next one starts."""
    more = len(items) > limit
    return jsonify(
        items=items[:limit],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )
