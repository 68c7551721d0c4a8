"""The service center's console: server-rendered pages, a little JavaScript for the live board.

Every page needs a login; what a user sees follows their role (staff.service). State changes are
POST forms carrying the session's CSRF token, and answer with a redirect (no double submits).

console.views.common holds the blueprint and what every page shares; each page (or group of
pages) is a module of its own that adds its routes to the blueprint (imported here, so that
they are on it before any app registers it). What the pages compute is in console's service
modules (board, figures, display, auth).
"""

from __future__ import annotations

from flask import Flask

from console import auth, display
from console.views import board, callbacks, cases, desk, figures, login, roster
from console.views.common import bp

#: The modules whose routes are on the blueprint.
PAGES = (login, board, desk, cases, callbacks, roster, figures)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["bars"] = display.bars
    app.permanent_session_lifetime = auth.SESSION_LIFETIME
