"""The console through Flask's test client: logins, lock-out, CSRF, roles, the live board, case
actions, the roster and the figures. (tests/system/test_console_browser.py drives it in
Chromium.)"""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import Case
from cases.queries import timeline
from cases.workflow import CaseState
from config.settings import CONFIG_DIR, Settings
from core.db import utcnow
from routing import callbacks, store
from routing.models import CallbackTask
from routing.rosterfile import load_roster
from staff.models import Role, StaffUser
from tests.support import (
    GARBLED_DAYS,
    GARBLED_NUMBERS,
    TwilioSigner,
    call_params,
    gather_of,
    path_of,
    twiml,
)
from tests.support.staff import PASSWORD, add_user, csrf_of, login, open_case


def test_a_login_opens_the_console_and_a_wrong_password_does_not(
    client: FlaskClient, db_session: Session
) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    assert client.get("/console/board").status_code == 302, "not logged in: to the login page"

    wrong = login(client, "li", "not the password")
    assert wrong.status_code == 401
    assert "用户名或密码错误" in wrong.get_data(as_text=True)
    unknown = login(client, "nobody", PASSWORD)
    assert "用户名或密码错误" in unknown.get_data(as_text=True), "same answer"

    ok = login(client, "li")
    assert (ok.status_code, ok.headers["Location"]) == (302, "/console/")
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/console/board").status_code == 200
    page = client.get("/console/board")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_wrong_passwords_never_lock_the_account_out(
    client: FlaskClient, db_session: Session
) -> None:
    # An attacker who knows a dispatcher's name must not be able to keep them out during an
    # incident: guessing is slowed by address (tests/core/test_limits.py), not by a lock.
    user = add_user(db_session, "wang", Role.DISPATCHER)
    for _ in range(6):
        refused = login(client, "wang", "guess")
        assert refused.status_code == 401
        assert "用户名或密码错误" in refused.get_data(as_text=True)
    db_session.expire_all()
    assert (db_session.get(StaffUser, user.id) or user).failed_logins == 6
    assert login(client, "wang").status_code == 302, "the right password still works"
    db_session.expire_all()
    assert (db_session.get(StaffUser, user.id) or user).failed_logins == 0


def test_a_unit_contact_sees_only_the_units_cases(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    add_user(db_session, "city", Role.UNIT, unit="city_management")
    ours = open_case(app, db_session, unit="city_management")
    theirs = open_case(app, db_session, unit="water_supply", category="utilities")
    login(client, "city")

    listing = client.get("/console/cases").get_data(as_text=True)
    assert ours in listing and theirs not in listing
    assert client.get(f"/console/cases/{ours}").status_code == 200
    other = client.get(f"/console/cases/{theirs}")
    assert other.status_code == 403
    assert "another unit" in other.get_data(as_text=True)
    assert client.get("/console/board").status_code == 403
    assert client.get("/console/figures").status_code == 403
    token = csrf_of(client, f"/console/cases/{ours}")
    dispatch = client.post(
        f"/console/cases/{ours}/act",
        data={"action": "dispatch", "unit": "water_supply", "csrf": token},
    )
    assert dispatch.status_code == 403, "a unit accepts and resolves; it does not dispatch"
    accept = client.post(f"/console/cases/{ours}/act", data={"action": "accept", "csrf": token})
    assert accept.status_code == 302
    case = db_session.scalar(select(Case).where(Case.number == ours))
    db_session.refresh(case)
    assert case is not None and case.state is CaseState.ACCEPTED


def test_a_dispatcher_reassigns_and_resolves_with_notes(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    add_user(db_session, "disp", Role.DISPATCHER)
    number = open_case(app, db_session)
    login(client, "disp")
    token = csrf_of(client, f"/console/cases/{number}")

    moved = client.post(
        f"/console/cases/{number}/act",
        data={"action": "dispatch", "unit": "water_supply", "note": "属供水问题", "csrf": token},
        follow_redirects=True,
    )
    assert "✓" in moved.get_data(as_text=True)
    refused = client.post(
        f"/console/cases/{number}/act",
        data={"action": "resolve", "note": "", "csrf": token},
        follow_redirects=True,
    )
    page = refused.get_data(as_text=True)
    assert 'class="flash error"' in page and "cannot resolve" in page, "refused with the reason"
    case = db_session.scalar(select(Case).where(Case.number == number))
    assert case is not None
    db_session.refresh(case)
    assert (case.state, case.unit_code) == (CaseState.DISPATCHED, "water_supply")
    last = timeline(db_session, case)[-1]
    assert (last.actor, last.note) == ("console:disp", "属供水问题")


def test_a_call_shows_up_on_the_live_board(
    client: FlaskClient, db_session: Session, twilio: TwilioSigner, settings: Settings
) -> None:
    add_user(db_session, "desk", Role.DISPATCHER)
    login(client, "desk")
    caller = call_params(settings)
    door = twiml(twilio.post("/voice/incoming", caller))
    twilio.post(
        path_of(gather_of(door).get("action") or ""),
        {**caller, "CallStatus": "in-progress", "SpeechResult": "我家着火了", "Confidence": "0.9"},
    )

    board = client.get("/console/board.json").get_json()
    (live,) = board["live"]
    assert live["sid"] == caller["CallSid"]
    assert live["caller"] == "+8613800138000"
    assert live["branch"] == "紧急转接"
    assert live["classification"] == "紧急 · 火警", "by name, in the page's language"
    assert (live["stage"], live["stage_label"]) == ("ringing_officers", "正在呼叫值班人员")
    assert not live["danger"]

    twilio.post("/voice/status", {**caller, "CallStatus": "completed", "CallDuration": "61"})
    board = client.get("/console/board.json").get_json()
    assert board["live"] == []
    (recent,) = board["recent"]
    assert recent["duration"] == 61
    assert recent["stage"] == "abandoned_emergency", "hung up while officers' phones rang"
    assert recent["danger"] and recent["stage_label"] == "紧急呼救：无人接听前已挂断"
    (alert,) = board["danger"]
    assert alert["text"] == "紧急呼救中途挂断，需回拨"
    assert alert["caller"] == "+8613800138000" and alert["call_back_url"] == "/console/callbacks"


def test_the_roster_page_toggles_officers_and_a_supervisor_edits_it(
    app: Flask, client: FlaskClient, db_session: Session, settings: Settings
) -> None:
    store.save_roster(db_session, load_roster(CONFIG_DIR / "roster.yaml", "CN"))
    db_session.commit()
    app.extensions["hotline.roster"].invalidate()
    add_user(db_session, "disp", Role.DISPATCHER)
    add_user(db_session, "boss", Role.SUPERVISOR)

    login(client, "disp")
    page = client.get("/console/roster").get_data(as_text=True)
    assert "P001" in page
    token = csrf_of(client, "/console/roster")
    off = client.post(
        "/console/roster/available", data={"officer": "P001", "available": "0", "csrf": token}
    )
    assert off.status_code == 302
    roster = store.load_roster(db_session)
    assert roster is not None and not roster.officers["P001"].available
    assert client.post("/console/roster", data={"roster": "x", "csrf": token}).status_code == 403

    client.post("/console/logout", data={"csrf": token})
    login(client, "boss")
    token = csrf_of(client, "/console/roster")
    doc = yaml.safe_load((CONFIG_DIR / "roster.yaml").read_text(encoding="utf-8"))
    broken = yaml.safe_load(yaml.safe_dump(doc))
    broken["officers"][0]["phone"] = "12345"
    before = store.roster_version(db_session)
    bad = client.post(
        "/console/roster",
        data={"roster": yaml.safe_dump(broken, allow_unicode=True), "csrf": token},
        follow_redirects=True,
    )
    assert "error" in bad.get_data(as_text=True)
    assert store.roster_version(db_session) == before, "an invalid roster changes nothing"
    doc["officers"][0]["name"] = "新名字"
    good = client.post(
        "/console/roster",
        data={"roster": yaml.safe_dump(doc, allow_unicode=True), "csrf": token},
        follow_redirects=True,
    )
    assert f"已保存为第 {(before or 0) + 1} 版 ✓" in good.get_data(as_text=True)
    saved = store.load_roster(db_session)
    assert saved is not None and saved.officers["P001"].name == "新名字"


def test_an_invalid_edit_of_a_large_roster_comes_back_as_typed(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    add_user(db_session, "boss", Role.SUPERVISOR)
    login(client, "boss")
    doc = yaml.safe_load((CONFIG_DIR / "roster.yaml").read_text(encoding="utf-8"))
    team = doc["officers"][0]["team"]
    doc["officers"] += [
        {"code": f"X{n:03d}", "name": f"值班员{n}", "team": team, "phone": f"138059{n:05d}"}
        for n in range(225)
    ]
    doc["officers"][-1]["phone"] = "12345"  # the one mistake, at the end
    text = yaml.safe_dump(doc, allow_unicode=True)
    assert len(text.encode()) > 4096 * 3, "far past what a session cookie can hold"

    bad = client.post(
        "/console/roster", data={"roster": text, "csrf": csrf_of(client, "/console/roster")}
    )

    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    assert "X224" in page and "值班员224" in page, "the whole draft is shown again"
    assert "phone" in page, "with the reason"
    cookie = bad.headers.get("Set-Cookie", "")
    assert len(cookie) < 4096


def test_logging_out_ends_the_session_everywhere(client: FlaskClient, db_session: Session) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    login(client, "li")
    assert client.get("/console/board.json").status_code == 200
    captured = client.get_cookie("session")
    assert captured is not None
    other_device = client.application.test_client()
    other_device.set_cookie("session", captured.value)
    assert other_device.get("/console/board.json").status_code == 200

    client.post("/console/logout", data={"csrf": csrf_of(client, "/console/board")})

    replayed = client.application.test_client()
    replayed.set_cookie("session", captured.value)
    assert replayed.get("/console/board.json").status_code in (302, 401)
    assert other_device.get("/console/board.json").status_code in (302, 401)


def test_figures_render_and_export_as_csv(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    add_user(db_session, "boss", Role.SUPERVISOR)
    open_case(app, db_session)
    login(client, "boss")
    assert client.get("/console/figures?lang=en").status_code == 200
    page = client.get("/console/figures").get_data(as_text=True)
    assert "Cases by category" in page, "the language chosen stays for the session"
    csv = client.get("/console/figures.csv")
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "figure,key,value"
    assert "cases_by_category,city_management,1" in lines
    assert "cases_by_unit,city_management,1" in lines
    assert client.get("/console/figures?from=2026-13-01").status_code == 400


def test_a_password_change_ends_other_sessions(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    user = add_user(db_session, "li", Role.DISPATCHER)
    login(client, "li")
    assert client.get("/console/cases").status_code == 200
    user.session_version += 1  # what `hotline users passwd` does
    db_session.commit()
    assert client.get("/console/cases").status_code == 302


def _callback_task(db_session: Session, **values: object) -> CallbackTask:
    """A call-back task as the webhooks create it (tests/routing/test_abandoned.py drives those)."""
    call_sid = "CA" + uuid.uuid4().hex
    callbacks.open_callback(
        db_session,
        {"call_sid": call_sid, "at": utcnow().isoformat(), "language": "zh", **values},
    )
    db_session.commit()
    task = db_session.scalar(select(CallbackTask).where(CallbackTask.call_sid == call_sid))
    assert task is not None
    return task


def test_the_callbacks_page_lists_tasks_by_priority_and_closing_one_works(
    client: FlaskClient, db_session: Session
) -> None:
    ivr = _callback_task(
        db_session, kind="abandoned_ivr", priority=2, caller_number="+8613800138001"
    )
    fire = _callback_task(
        db_session,
        kind="abandoned_bridge",
        priority=0,
        caller_number="+8613800138000",
        route="fire",
    )
    add_user(db_session, "disp", Role.DISPATCHER)
    login(client, "disp")

    board = client.get("/console/board")
    assert 'id="urgent-count">1<' in board.get_data(as_text=True), "nobody misses an emergency"
    assert client.get("/console/board.json").get_json()["urgent_callbacks"] == 1
    page = client.get("/console/callbacks").get_data(as_text=True)
    assert 'href="tel:+8613800138000"' in page, "the full number, to dial back"
    assert "呼救中途挂断" in page and "语音导航中挂断" in page and "火警" in page
    assert page.index(f'data-task="{fire.id}"') < page.index(f'data-task="{ivr.id}"')
    assert 'id="nav-callbacks"' in page

    token = csrf_of(client, "/console/callbacks")
    assert client.post(f"/console/callbacks/{fire.id}/claim").status_code == 400, "CSRF"
    claimed = client.post(f"/console/callbacks/{fire.id}/claim", data={"csrf": token})
    assert claimed.status_code == 302
    db_session.refresh(fire)
    assert (fire.claimed_by, fire.claimed_at is not None) == ("console:disp", True)

    outcome = f"/console/callbacks/{fire.id}/outcome"
    client.post(outcome, data={"csrf": token, "outcome": "no_answer", "note": "关机"})
    db_session.refresh(fire)
    assert (fire.attempts, fire.closed_at, fire.outcome) == (1, None, None), "still open"
    refused = client.post(outcome, data={"csrf": token, "outcome": "maybe"}, follow_redirects=True)
    assert 'class="flash error"' in refused.get_data(as_text=True)
    done = client.post(
        outcome,
        data={"csrf": token, "outcome": "reached", "note": "已派警"},
        follow_redirects=True,
    )
    assert "✓" in done.get_data(as_text=True)
    db_session.refresh(fire)
    assert (fire.attempts, fire.outcome, fire.closed_at is not None) == (2, "reached", True)
    assert "关机" in fire.note and "已派警" in fire.note
    assert client.get("/console/board.json").get_json()["urgent_callbacks"] == 0
    again = client.post(outcome, data={"csrf": token, "outcome": "reached"}, follow_redirects=True)
    assert "is closed" in again.get_data(as_text=True)
    assert (
        client.post("/console/callbacks/99999999/outcome", data={"csrf": token}).status_code == 302
    )
    huge = client.post(f"/console/callbacks/{10**30}/claim", data={"csrf": token})
    assert huge.status_code == 404, "never a 500 on a silly id"

    for _ in range(3):  # no answer three times closes it
        client.post(
            f"/console/callbacks/{ivr.id}/outcome", data={"csrf": token, "outcome": "no_answer"}
        )
    db_session.refresh(ivr)
    assert (ivr.attempts, ivr.outcome, ivr.closed_at is not None) == (3, "no_answer", True)


def test_a_unit_contact_cannot_see_or_close_callback_tasks(
    client: FlaskClient, db_session: Session
) -> None:
    task = _callback_task(
        db_session, kind="abandoned_bridge", priority=0, caller_number="+8613800138000"
    )
    add_user(db_session, "city", Role.UNIT, unit="city_management")
    login(client, "city")
    assert client.get("/console/callbacks").status_code == 403
    token = csrf_of(client, "/console/cases")
    refused = client.post(
        f"/console/callbacks/{task.id}/outcome", data={"csrf": token, "outcome": "not_needed"}
    )
    assert refused.status_code == 403
    page = client.get("/console/cases").get_data(as_text=True)
    assert "+8613800138000" not in page and 'id="nav-callbacks"' not in page
    db_session.refresh(task)
    assert task.closed_at is None


#: Numbers Python's int() or str.isdigit() would take and the console must not.
GARBLED = [*GARBLED_NUMBERS, "0"]


@pytest.mark.parametrize("value", GARBLED)
def test_a_garbled_page_number_is_a_400(
    client: FlaskClient, db_session: Session, value: str
) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    login(client, "li")
    response = client.get("/console/cases", query_string={"page": value})
    assert response.status_code == 400
    assert "page: a whole number from 1 to" in response.get_data(as_text=True)


def test_the_pagers_links_carry_only_the_lists_filters(
    client: FlaskClient, db_session: Session
) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    login(client, "li")
    steer = {
        "endpoint": "console.login",
        "_external": "1",
        "_scheme": "javascript",
        "_anchor": "x",
        "_method": "POST",
        "values": "x",
        "lang": "en",
    }
    response = client.get(
        "/console/cases", query_string={"page": "2", "state": "received", **steer}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    [link] = re.findall(r'<a href="([^"]*)">← ', page)
    assert link.startswith("/console/cases?"), "a relative link to the list itself"
    assert sorted(parse_qs(urlsplit(html.unescape(link)).query)) == ["page", "state"]
    for name in steer:
        assert f"{name}=" not in link


@pytest.mark.parametrize(
    "target",
    [
        "/console/\r\nX",  # ?next=/console/%0D%0AX
        "/console/\r\nSet-Cookie: x=1",
        "/console/\x7f",
        "/console/\x85",
        "/console/\u2028",
        "/console/\tx",
        "//evil.example/console/",
        "/\\evil.example/console/",
        "/console/\\evil",
        "/console//evil.example",
        "/console/../evil",
        "/console/%2e%2e/evil",
        "https://evil.example/console/",
        "javascript:alert(1)//console/",
        "/consolex",
        "/elsewhere",
        "",
    ],
)
def test_after_a_login_only_a_path_under_the_console_is_followed(
    client: FlaskClient, db_session: Session, target: str
) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    token = csrf_of(client)
    response = client.post(
        "/console/login",
        query_string={"next": target},
        data={"username": "li", "password": PASSWORD, "csrf": token},
    )
    assert (response.status_code, response.headers["Location"]) == (302, "/console/")


def test_after_a_login_the_page_asked_for_is_shown(
    client: FlaskClient, db_session: Session
) -> None:
    add_user(db_session, "li", Role.DISPATCHER)
    token = csrf_of(client)
    response = client.post(
        "/console/login",
        query_string={"next": "/console/cases?state=received&page=2"},
        data={"username": "li", "password": PASSWORD, "csrf": token},
    )
    assert (response.status_code, response.headers["Location"]) == (
        302,
        "/console/cases?state=received&page=2",
    )


@pytest.mark.parametrize("value", GARBLED_DAYS)
@pytest.mark.parametrize("name", ["from", "to"])
def test_a_garbled_date_of_the_figures_page_is_a_400(
    client: FlaskClient, db_session: Session, name: str, value: str
) -> None:
    add_user(db_session, "boss", Role.SUPERVISOR)
    login(client, "boss")
    for path in ("/console/figures", "/console/figures.csv"):
        assert client.get(path, query_string={name: value}).status_code == 400, path
