"""Logging in and out, and the home page (the live board or the cases, by role)."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for

from console import auth
from console.auth import console_user, login_required
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
            error = str(exc)
        else:
            db.session().commit()
            auth.start_session(user)
            target = request.args.get("next", "")
            safe = target.startswith("/console/") and not target.startswith("//")
            return redirect(target if safe else url_for("console.home"))
    return render_template("console/login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/")
@login_required()
def home() -> Any:
    user = console_user()
    assert user is not None  # noqa: S101 (login_required)
    return redirect(url_for("console.live" if user.role in CENTER else "console.case_list"))
