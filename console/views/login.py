"""Logging in and out, and the home page (the live board or the cases, by role)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from flask import redirect, render_template, request, session, url_for

from console import auth
from console.auth import console_user, login_required
from console.i18n import t
from console.views.common import bp
from core import db
from staff import service as staff
from staff.service import CENTER


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        try:
            user = staff.authenticate(
                request.form.get("username", ""),
                request.form.get("password", ""),
                session=db.session(),
            )
        except staff.LoginError as exc:
            db.session().commit()  # the failed attempt counts, a lock-out holds
            error = t(f"login.{exc.reason}")
        else:
            db.session().commit()
            auth.start_session(user)
            target = request.args.get("next", "")
            return redirect(target if safe_next(target) else url_for("console.home"))
    return render_template("console/login.html", error=error), 401 if error else 200


def safe_next(target: str) -> bool:
    """Whether `target` (the ?next= the login page was sent to) may be redirected to after a
    login: a path of this site under /console/, with printable characters only (no control
    characters, CR/LF or spaces), no backslash, no scheme or host (`//evil`, `/\\evil`,
    `https:…`), no empty or dot segments (`/console//x`, `/console/../x`, `%2e%2e`)."""
    if not target.startswith("/console/") or "\\" in target:
        return False
    if not target.isprintable() or any(c.isspace() for c in target):
        return False
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return False
    segments = parts.path.split("/")[2:]  # after "", "console"
    return all(unquote(s) not in {".", ".."} for s in segments) and "//" not in parts.path


@bp.post("/logout")
def logout() -> Any:
    """End the session everywhere: the account's session version moves on, so this cookie (and
    any copy of it, or another device's) is refused from now on, not only forgotten here."""
    user = console_user()
    if user is not None:
        user.session_version += 1
        db.session().commit()
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/")
@login_required()
def home() -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    return redirect(url_for("console.live" if user.role in CENTER else "console.case_list"))
