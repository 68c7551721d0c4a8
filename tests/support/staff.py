"""Staff accounts for console and API tests: users, logins (with CSRF) and tokens."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from cases.service import apply, create_case
from staff.models import Role, StaffUser
from staff.service import hash_password, new_api_token

PASSWORD = "correct horse battery"
_HASH: dict[str, str] = {}


def add_user(db_session: Session, username: str, role: Role, unit: str | None = None) -> StaffUser:
    """A user with PASSWORD (hashed once per test session: scrypt is slow on purpose)."""
    if "hash" not in _HASH:
        _HASH["hash"] = hash_password(PASSWORD)
    user = StaffUser(
        username=username, display_name=username, password_hash=_HASH["hash"], role=role
    )
    user.unit_code = unit
    db_session.add(user)
    db_session.commit()
    return user


def csrf_of(client: FlaskClient, path: str = "/console/login") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return found.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> TestResponse:
    token = csrf_of(client)
    return client.post(
        "/console/login", data={"username": username, "password": password, "csrf": token}
    )


def token_for(db_session: Session, user: StaffUser) -> str:
    token = new_api_token(user, "test", session=db_session)
    db_session.commit()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def open_case(
    app: Flask,
    db_session: Session,
    *,
    unit: str = "city_management",
    category: str = "city_management",
    confidential: bool = False,
) -> str:
    """A case dispatched to `unit`; its number."""
    settings = app.extensions["hotline.settings"]
    case = create_case(
        db_session,
        call_sid=None,
        category=category,
        language="zh",
        caller_number="+8613800138000",
        caller_raw="+8613800138000",
        transcript="人民路的路灯坏了",
        tz=settings.tz,
        holidays={},
        confidential=confidential,
        source="api",
    )
    units = app.extensions["hotline.units"]
    apply(db_session, case.number, "dispatch", actor="t", unit_code=unit, units=units)
    db_session.commit()
    return case.number
