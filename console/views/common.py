"""The console's blueprint and what every page shares: the CSRF check, the security headers,
the error page and the helpers the templates call (console.display)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Response, abort, flash, render_template
from werkzeug.exceptions import HTTPException

from console import auth, display
from console.auth import console_user
from console.i18n import TEXT, language, t
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


def flash_refusal(what: str, exc: Exception) -> None:
    """Tell the user, in the page's language, that `what` (a catalogue key) was refused; the
    precise reason follows as technical detail."""
    flash(t(what), "error")
    flash(str(exc), "detail")


@bp.before_request
def _language_and_csrf() -> None:
    language()  # a ?lang= is remembered even when the page redirects (to the login page)
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
def error_page(exc: HTTPException) -> tuple[str, int, list[tuple[str, str]]]:
    """A refusal in the page's language: what happened and what to do; the precise reason (for
    whoever reports it) stays below, as technical detail. The headers the error carries
    (`Allow` on a 405, `Retry-After` on a 429) are kept. Also used by the app for a URL under
    /console/ that matches no page."""
    db.session().rollback()
    code = exc.code or 500
    known = code if f"error.{code}" in TEXT else 400 if code < 500 else 500
    csrf = exc.description == auth.CSRF_REFUSED
    page = render_template(
        "console/error.html",
        code=code,
        name=t(f"error.{known}"),
        explain=t("error.csrf") if csrf else t(f"error.{known}.explain"),
        reason=exc.description,
    )
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return page, code, headers


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
        "deadline": display.deadline,
        "zone": display.zone,
        "unit_name": display.unit_name,
        "team_name": display.team_name,
        "officer_name": display.officer_name,
        "role_name": display.role_name,
        "actor_label": display.actor_label,
        "event_text": display.event_text,
        "kind_name": display.kind_name,
        "urgent_callbacks": display.urgent_callbacks,
        "Role": Role,
        "CENTER": CENTER,
    }
