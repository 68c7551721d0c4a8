"""Staff accounts: passwords, logins with their lock-out, API bearer tokens, and what each role
may do.

Passwords are kept as scrypt hashes (werkzeug), API tokens as SHA-256 digests; neither is ever
logged. Password guessing is slowed by address (the console's login is rate-limited, app.py
LIMITS), never by locking the account: a lock an attacker can hold would keep the dispatchers
out during an incident. A refused login answers the same, in the same time, whether the name
exists or not; wrong passwords are counted on the account (`hotline users list` shows them).
Functions that read or write take the request's `session` and flush, never commit: the caller
commits once (a refused login too, so that its count holds).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core.db import utcnow
from core.webhooks import settings
from staff.models import ApiToken, Role, StaffUser

log = logging.getLogger(__name__)

#: Every so many wrong passwords in a row, a warning is logged (the account stays open).
MAX_FAILURES = 5
MIN_PASSWORD = 10
#: What each role may do to a case.
#: Roles that see the center's whole picture (board, every case, roster, figures).
CENTER = (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)
#: Roles that may change the duty roster.
ROSTER_EDITORS = (Role.SUPERVISOR, Role.ADMIN)
_DUMMY_HASH = generate_password_hash("not a password, only for timing")


class LoginError(Exception):
    """Why a login was refused (safe to show: it never tells which part was wrong).

    `reason` names it for a translated message: "wrong" or "disabled"."""

    def __init__(self, message: str, reason: str = "wrong") -> None:
        super().__init__(message)
        self.reason = reason


class PasswordError(ValueError):
    pass


# ------------------------------------------------------------------------ passwords, logins


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise PasswordError(f"a password needs at least {MIN_PASSWORD} characters")
    return generate_password_hash(password)


def authenticate(
    username: str, password: str, *, session: Session, now: dt.datetime | None = None
) -> StaffUser:
    """The user, if the password is right and the account open; else LoginError.

    A wrong password is counted before LoginError is raised: the caller commits either way."""
    now = now or utcnow()
    user = session.scalar(
        select(StaffUser).where(StaffUser.username == username.strip()[:64]).with_for_update()
    )
    if user is None or user.role is Role.CLIENT:
        check_password_hash(_DUMMY_HASH, password)  # the same time as a real check
        raise LoginError("wrong username or password")
    if not user.password_hash or not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins % MAX_FAILURES == 0:
            log.warning("console: %d failed logins for %s", user.failed_logins, user.username)
        session.flush()
        raise LoginError("wrong username or password")
    if user.disabled:
        raise LoginError("this account is disabled", reason="disabled")
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    session.flush()
    return user


# ---------------------------------------------------------------------------------- tokens


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_api_token(user: StaffUser, name: str, *, session: Session) -> str:
    """Create a token for `user`; the plain token is returned once and never stored."""
    token = "mh_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=token_digest(token), name=name[:64]))
    session.flush()
    return token


def api_user(*, session: Session) -> StaffUser | None:
    """The user a request's `Authorization: Bearer …` acts as (once per request)."""
    if "api_user" in g:
        cached: StaffUser | None = g.api_user
        return cached
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    g.api_user = user_for_token(token, session=session) if token else None
    return g.api_user  # type: ignore[no-any-return]


def user_for_token(token: str, *, session: Session) -> StaffUser | None:
    """The active user of an API token (or of the STAFF_API_TOKEN setting: an admin); Open311's
    `api_key` is such a token."""
    if not token or len(token) > 200:
        return None
    configured = settings().staff_api_token
    if configured and hmac.compare_digest(token, configured):
        return StaffUser(id=0, username="STAFF_API_TOKEN", role=Role.ADMIN, session_version=0)
    row = session.scalar(
        select(ApiToken).where(
            ApiToken.token_sha256 == token_digest(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    user = session.get(StaffUser, row.user_id)
    if user is None or user.disabled:
        return None
    return user
