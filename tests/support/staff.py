"""Staff accounts for console and API tests: users, logins (with CSRF) and tokens."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from cases.service import apply, create_case
from cases.workflow import Action, CaseState
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


#: How a new case is brought to each state of the workflow.
CASE_PATHS: dict[CaseState, tuple[Action, ...]] = {
    CaseState.RECEIVED: (),
    CaseState.HANDLED_ON_SPOT: (Action.HANDLE_ON_SPOT,),
    CaseState.DISPATCHED: (Action.DISPATCH,),
    CaseState.ACCEPTED: (Action.DISPATCH, Action.ACCEPT),
    CaseState.IN_PROGRESS: (Action.DISPATCH, Action.ACCEPT, Action.START),
    CaseState.RESOLVED: (Action.DISPATCH, Action.ACCEPT, Action.RESOLVE),
    CaseState.CLOSED: (Action.DISPATCH, Action.ACCEPT, Action.RESOLVE, Action.CLOSE),
    CaseState.REOPENED: (Action.DISPATCH, Action.ACCEPT, Action.RESOLVE, Action.REOPEN),
}


def open_case(
    app: Flask,
    db_session: Session,
    *,
    unit: str = "city_management",
    category: str = "city_management",
    confidential: bool = False,
    state: CaseState = CaseState.DISPATCHED,
) -> str:
    """A case of `unit`'s taken to `state` (dispatched, by default); its number."""
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
    for action in CASE_PATHS[state]:
        apply(
            db_session,
            case.number,
            action,
            actor="t",
            note="说明" if action in (Action.RESOLVE, Action.REOPEN) else "",
            unit_code=unit if action is Action.DISPATCH else None,
            units=units,
            tz=settings.tz,
            holidays={},
        )
    db_session.commit()
    assert case.state is state
    return case.number
