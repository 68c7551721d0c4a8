"""Who is asking: console logins (with lock-out and CSRF) and API bearer tokens, and what each
role may do.

Passwords are kept as scrypt hashes (werkzeug), API tokens as SHA-256 digests; neither is ever
logged. Five wrong passwords in a row lock an account for 15 minutes (the answer is the same
whether the password was right or not while it is locked). A login starts a new session (no
fixation); changing a password ends the user's other sessions. Every state-changing console
request carries the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, g, redirect, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from cases.models import Case
from cases.workflow import Action
from console.models import ApiToken, Role, StaffUser
from core import db
from core.db import utcnow
from core.webhooks import settings

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD = 10
SESSION_LIFETIME = dt.timedelta(hours=12)
#: What each role may do to a case.
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.SUPERVISOR: frozenset(Action),
    Role.DISPATCHER: frozenset(Action) - {Action.ACCEPT, Action.START},
    Role.UNIT: frozenset({Action.ACCEPT, Action.START, Action.RESOLVE}),
    Role.CLIENT: frozenset(),
}
#: Roles that see the center's whole picture (board, every case, roster, figures).
CENTER = (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)
#: Roles that may change the duty roster.
ROSTER_EDITORS = (Role.SUPERVISOR, Role.ADMIN)
_DUMMY_HASH = generate_password_hash("not a password, only for timing")

F = TypeVar("F", bound=Callable[..., Any])


class LoginError(Exception):
    """Why a login was refused (safe to show: it never tells which part was wrong)."""


class PasswordError(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise PasswordError(f"a password needs at least {MIN_PASSWORD} characters")
    return generate_password_hash(password)


def authenticate(
    db_session: Session, username: str, password: str, now: dt.datetime | None = None
) -> StaffUser:
    """The user, if the password is right and the account open; else LoginError."""
    now = now or utcnow()
    user = db_session.scalar(
        select(StaffUser).where(StaffUser.username == username.strip()[:64]).with_for_update()
    )
    if user is None or user.role is Role.CLIENT:
        check_password_hash(_DUMMY_HASH, password)  # the same time as a real check
        raise LoginError("wrong username or password")
    if user.locked_until is not None and user.locked_until > now:
        raise LoginError(
            f"too many failed logins: locked for {_minutes(user.locked_until - now)} more minutes"
        )
    if not user.password_hash or not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
            log.warning("console: %s locked after %d failed logins", user.username, MAX_FAILURES)
            db_session.commit()
            raise LoginError(f"too many failed logins: locked for {_minutes(LOCKOUT)} minutes")
        db_session.commit()
        raise LoginError("wrong username or password")
    if user.disabled:
        raise LoginError("this account is disabled")
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    db_session.commit()
    return user


def _minutes(delta: dt.timedelta) -> int:
    return max(1, int(delta.total_seconds() + 59) // 60)


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
        abort(400, description="missing or wrong CSRF token: reload the page and try again")


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


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_api_token(db_session: Session, user: StaffUser, name: str) -> str:
    """Create a token for `user`; the plain token is returned once and never stored."""
    token = "mh_" + secrets.token_urlsafe(32)
    db_session.add(ApiToken(user_id=user.id, token_sha256=token_digest(token), name=name[:64]))
    db_session.flush()
    return token


def api_user() -> StaffUser | None:
    """The user a request's `Authorization: Bearer …` (or Open311 `api_key`) acts as."""
    if "api_user" in g:
        cached: StaffUser | None = g.api_user
        return cached
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    g.api_user = user_for_token(token) if token else None
    return g.api_user  # type: ignore[no-any-return]


def user_for_token(token: str) -> StaffUser | None:
    """The active user of an API token (or of the STAFF_API_TOKEN setting: an admin)."""
    if not token or len(token) > 200:
        return None
    configured = settings().staff_api_token
    if configured and hmac.compare_digest(token, configured):
        return StaffUser(id=0, username="STAFF_API_TOKEN", role=Role.ADMIN, session_version=0)
    session_ = db.session()
    row = session_.scalar(
        select(ApiToken).where(
            ApiToken.token_sha256 == token_digest(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    user = session_.get(StaffUser, row.user_id)
    if user is None or user.disabled:
        return None
    return user


def can_see_case(user: StaffUser, case: Case) -> bool:
    if user.role in CENTER:
        return True
    return (
        user.role is Role.UNIT and user.unit_code is not None and case.unit_code == user.unit_code
    )


def may(user: StaffUser, action: Action | str) -> bool:
    try:
        return Action(action) in ROLE_ACTIONS[user.role]
    except ValueError:
        return False
