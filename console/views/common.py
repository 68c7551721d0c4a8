"""The console's blueprint and what every page shares: the CSRF check, the security headers,
the error page and the helpers the templates call (console.display)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Response, abort, render_template
from werkzeug.exceptions import HTTPException

from console import auth, display
from console.auth import console_user
from console.i18n import language, t
from core import db
from core.inputs import BadInput, whole_number
from staff.models import Role
from staff.service import CENTER

#: Named after the package (not this module), whose templates/ and static/ it serves.
bp = Blueprint(
    "console",
    "console",
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


#: The highest page number a list accepts (50 rows a page: a million rows deep).
MAX_PAGE = 20_000


def page_number(raw: str | None) -> int:
    """The page a list asks for (?page=): 1 when absent or empty; else a whole number from 1 to
    MAX_PAGE in ASCII digits (core.inputs.whole_number), and anything else (`²`, `-1`, `1e3`,
    `５`, too deep) is a 400 with the reason, not a silent page 1."""
    if not raw:
        return 1
    try:
        return whole_number(raw, "page", 1, MAX_PAGE)
    except BadInput as exc:
        abort(400, description=str(exc))


def pager_args(args: Mapping[str, str], filters: Iterable[str]) -> dict[str, str]:
    """The arguments a pager's links carry: only the page's own `filters` that the request
    set (an allow-list: never `page` itself, nor `url_for`'s `_external`, `_scheme`,
    `_anchor`, `_method` or `endpoint`, which a query string must not steer)."""
    return {name: args[name] for name in filters if args.get(name)}


@bp.before_request
def _csrf() -> None:
    auth.check_csrf()


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.errorhandler(HTTPException)
def _error_page(exc: HTTPException) -> tuple[str, int]:
    db.session().rollback()
    code = exc.code or 500
    return render_template(
        "console/error.html", code=code, name=exc.name, reason=exc.description
    ), code


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "t": t,
        "lang": language,
        "user": console_user,
        "csrf_token": auth.csrf_token,
        "local": display.local,
        "category_name": display.category_name,
        "route_name": display.route_name,
        "person_name": display.person_name,
        "urgent_callbacks": display.urgent_callbacks,
        "Role": Role,
        "CENTER": CENTER,
    }
