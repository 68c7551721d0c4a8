"""The console's web session: a login starts one (no fixation), it lasts SESSION_LIFETIME, and
every state-changing console request carries its CSRF token. Changing a password ends the user's
other sessions (the session carries the account's `session_version`).

Accounts, passwords and roles are `staff`'s; this is only how a browser holds a login.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, g, redirect, request, session, url_for

from core import db
from staff.models import Role, StaffUser

SESSION_LIFETIME = dt.timedelta(hours=12)

F = TypeVar("F", bound=Callable[..., Any])


#: The reason a form without its token is refused (the error page says it in words).
CSRF_REFUSED = "missing or wrong CSRF token: reload the page and try again"


def start_session(user: StaffUser) -> None:
    """A fresh session for `user` (the old one, and any fixed session id, is dropped)."""
    session.clear()
    session.permanent = True
    session["uid"], session["sv"] = user.id, user.session_version
    session["csrf"] = secrets.token_urlsafe(32)
    session["lang"] = user.language


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse a state-changing request without the session's CSRF token (400)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get("csrf") or request.headers.get("X-CSRF-Token", "")
    expected = session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        abort(400, description=CSRF_REFUSED)


def console_user() -> StaffUser | None:
    """The logged-in console user of this request, if any."""
    if "console_user" in g:
        cached: StaffUser | None = g.console_user
        return cached
    user = None
    uid = session.get("uid")
    if isinstance(uid, int):
        found = db.session().get(StaffUser, uid)
        if (
            found is not None
            and not found.disabled
            and found.role is not Role.CLIENT
            and session.get("sv") == found.session_version
        ):
            user = found
    g.console_user = user
    return user


def login_required(*roles: Role) -> Callable[[F], F]:
    """A console view for logged-in users (of `roles`, if given): others go to the login page."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = console_user()
            if user is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if roles and user.role not in roles:
                abort(403, description="your role may not open this page")
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate
