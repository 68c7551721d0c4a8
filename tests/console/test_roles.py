"""Roles as the README says (docs/reference.md, "Logins and roles"), in one table: for every
role, every console page and form, every `/api/v1` route and every case action (in the console
and over the API), what the role gets.

- `dispatcher`: the board, every case, dispatching, the roster's availability, the figures; of
  the case actions: dispatch (and re-dispatch), handle on the spot, resolve, close, reopen —
  not accept or start (the unit's), nor escalate (督办, the supervisor's);
- `supervisor`: the same, plus escalation and editing the roster;
- `admin`: everything;
- `unit` (a unit's contact): only the unit's cases — accept, start, resolve with feedback;
  `other_unit` is a contact of another unit in front of the same case, which it may not reach;
- `client` (a city app): API tokens for Open311, no console (its login is refused) and nothing
  under /api/v1 but the OpenAPI document;
- `anonymous`: nobody logged in, no token.

The routes come from the app's URL map: a page, form or API route added later fails
`test_the_table_covers_every_route_and_every_action` until the table says who may use it. Every
row is checked against what really happens: the status, where a redirect goes, and what a form
or an action changed in the database (nothing, when refused).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from cases.models import Case, CaseEvent
from cases.workflow import TRANSITIONS, Action, CaseState, allowed_actions, transition
from config.settings import CONFIG_DIR, Settings
from core.alerts import Alert
from core.db import utcnow
from desk import service as desk
from desk.models import CallTaker
from recordings.models import Recording, RecordingState
from recordings.service import storage
from routing import callbacks, store
from routing.models import CallbackTask
from routing.rosterdump import roster_to_dict
from routing.rosterfile import load_roster
from staff.models import Role, StaffUser
from tests.support import TwilioSigner, call_params
from tests.support.staff import CASE_PATHS, add_user, bearer, csrf_of, login, open_case, token_for


@dataclass(frozen=True)
class Go:
    """A 302 to `path` (a form that did its work, the home page's choice, or the login page)."""

    path: str


#: Who asks: the columns of the table.
WHO = ("anonymous", "client", "unit", "other_unit", "dispatcher", "supervisor", "admin")
#: Each one's account: (username, role, unit). The cases of the table are the city's.
ACCOUNTS: dict[str, tuple[str, Role, str | None]] = {
    "client": ("wechat", Role.CLIENT, None),
    "unit": ("city", Role.UNIT, "city_management"),
    "other_unit": ("water", Role.UNIT, "water_supply"),
    "dispatcher": ("disp", Role.DISPATCHER, None),
    "supervisor": ("boss", Role.SUPERVISOR, None),
    "admin": ("root", Role.ADMIN, None),
}
UNIT = "city_management"
#: Where a re-dispatch sends the case.
OTHER_UNIT = "water_supply"

LOGIN = Go("/console/login")
HOME = Go("/console/")
BOARD = Go("/console/board")
CASES = Go("/console/cases")
ROSTER = Go("/console/roster")
CALLBACKS = Go("/console/callbacks")
DESK = Go("/console/desk")
#: The route that takes the case actions: see the `act …` rows.
ACTS = "act rows"
Y, N = True, False

Expected = int | Go | str | bool

# fmt: off
TABLE: dict[str, tuple[Expected, ...]] = {
    #                                anonymous client unit  other_unit dispatcher supervisor admin
    # The console's pages (GET): the status, or where it redirects.
    "GET console.home":               (LOGIN, LOGIN, CASES, CASES, BOARD, BOARD, BOARD),
    "GET console.login":              (200, 200, 200, 200, 200, 200, 200),
    "GET console.static":             (200, 200, 200, 200, 200, 200, 200),
    "GET console.live":               (LOGIN, LOGIN, 403, 403, 200, 200, 200),
    "GET console.board_json":         (LOGIN, LOGIN, 403, 403, 200, 200, 200),
    "GET console.case_list":          (LOGIN, LOGIN, 200, 200, 200, 200, 200),
    "GET console.case_page":          (LOGIN, LOGIN, 200, 403, 200, 200, 200),
    "GET console.recording_media":    (LOGIN, LOGIN, 200, 403, 200, 200, 200),
    "GET console.callbacks_page":     (LOGIN, LOGIN, 403, 403, 200, 200, 200),
    "GET console.roster_page":        (LOGIN, LOGIN, 403, 403, 200, 200, 200),
    "GET console.figures_page":       (LOGIN, LOGIN, 403, 403, 200, 200, 200),
    "GET console.figures_csv":        (LOGIN, LOGIN, 403, 403, 200, 200, 200),
    "GET console.desk_page":          (LOGIN, LOGIN, 403, 403, 200, 200, 200),
    "GET console.desk_json":          (LOGIN, LOGIN, 403, 403, 200, 200, 200),
    # The browser phone's token: 503 while the softphone is not configured (the tests' case).
    "GET console.desk_token":         (LOGIN, LOGIN, 403, 403, 503, 503, 503),
    # The console's forms (POST, with the session's CSRF token): a redirect other than to the
    # login page means the form did its work (checked in the database).
    "POST console.login":             (401, 401, HOME, HOME, HOME, HOME, HOME),
    "POST console.logout":            (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN),
    "POST console.roster_available":  (LOGIN, LOGIN, 403, 403, ROSTER, ROSTER, ROSTER),
    "POST console.roster_save":       (LOGIN, LOGIN, 403, 403, 403, ROSTER, ROSTER),
    "POST console.callback_claim":    (LOGIN, LOGIN, 403, 403, CALLBACKS, CALLBACKS, CALLBACKS),
    "POST console.callback_outcome":  (LOGIN, LOGIN, 403, 403, CALLBACKS, CALLBACKS, CALLBACKS),
    "POST console.callback_dial":     (LOGIN, LOGIN, 403, 403, CALLBACKS, CALLBACKS, CALLBACKS),
    "POST console.alert_acknowledge": (LOGIN, LOGIN, 403, 403, BOARD, BOARD, BOARD),
    "POST console.desk_state":        (LOGIN, LOGIN, 403, 403, DESK, DESK, DESK),
    # A case from, or a transfer of, a call the user is not on: refused whoever asks.
    "POST console.desk_case":         (LOGIN, LOGIN, 403, 403, 409, 409, 409),
    "POST console.desk_transfer":     (LOGIN, LOGIN, 403, 403, 409, 409, 409),
    "POST console.case_act":          (ACTS, ACTS, ACTS, ACTS, ACTS, ACTS, ACTS),
    # The API (a bearer token of the role's user; anonymous: none).
    "GET api_v1.openapi":             (200, 200, 200, 200, 200, 200, 200),
    "GET api_v1.list_cases":          (401, 403, 200, 200, 200, 200, 200),
    "GET api_v1.get_case":            (401, 403, 200, 403, 200, 200, 200),
    "GET api_v1.recording_metadata":  (401, 403, 200, 403, 200, 200, 200),
    "GET api_v1.recording_media":     (401, 403, 200, 403, 200, 200, 200),
    "GET api_v1.list_calls":          (401, 403, 403, 403, 200, 200, 200),
    "GET api_v1.get_call":            (401, 403, 403, 403, 200, 200, 200),
    "GET api_v1.roster_now":          (401, 403, 403, 403, 200, 200, 200),
    "GET api_v1.list_surveys":        (401, 403, 403, 403, 200, 200, 200),
    "GET api_v1.list_providers":      (401, 403, 403, 403, 200, 200, 200),
    "GET api_v1.get_figures":         (401, 403, 403, 403, 200, 200, 200),
    "POST api_v1.act_on_case":        (ACTS, ACTS, ACTS, ACTS, ACTS, ACTS, ACTS),
    # The case actions, on a case of the city's in a state where the action is legal: may the
    # role take it (console form and API alike)?
    "act handle_on_spot":             (N, N, N, N, Y, Y, Y),
    "act dispatch":                   (N, N, N, N, Y, Y, Y),
    "act accept":                     (N, N, Y, N, N, N, Y),
    "act start":                      (N, N, Y, N, N, N, Y),
    "act resolve":                    (N, N, Y, N, Y, Y, Y),
    "act close":                      (N, N, N, N, Y, Y, Y),
    "act reopen":                     (N, N, N, N, Y, Y, Y),
    "act escalate":                   (N, N, N, N, N, Y, Y),
}
# fmt: on

#: The state each action is tried from: legal for it, and a case the city's contact can see (a
#: received case has no unit yet, so handle_on_spot is tried on a reopened one, and dispatch is
#: a re-dispatch).
SOURCE: dict[Action, CaseState] = {
    Action.HANDLE_ON_SPOT: CaseState.REOPENED,
    Action.DISPATCH: CaseState.DISPATCHED,
    Action.ACCEPT: CaseState.DISPATCHED,
    Action.START: CaseState.ACCEPTED,
    Action.RESOLVE: CaseState.IN_PROGRESS,
    Action.CLOSE: CaseState.RESOLVED,
    Action.REOPEN: CaseState.CLOSED,
    Action.ESCALATE: CaseState.DISPATCHED,
}
PREFIXES = ("/console/", "/api/v1/")


def expected(row: str, who: str) -> Expected:
    return TABLE[row][WHO.index(who)]


def may(who: str, action: Action) -> bool:
    allowed = expected(f"act {action.value}", who)
    assert isinstance(allowed, bool)
    return allowed


def _routes(app: Flask) -> dict[str, Rule]:
    """Every GET and POST route under the console and the API, by "METHOD endpoint"."""
    return {
        f"{method} {rule.endpoint}": rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(PREFIXES)
        for method in ("GET", "POST")
        if method in (rule.methods or ())
    }


def _path(rule: Rule, values: Mapping[str, str | int]) -> str:
    built = rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def _check(response: TestResponse, want: Expected, what: str) -> None:
    if isinstance(want, Go):
        got = (response.status_code, urlsplit(response.headers.get("Location", "")).path)
        assert got == (302, want.path), what
    else:
        assert response.status_code == want, (what, response.get_data(as_text=True)[:300])


def test_the_table_covers_every_route_and_every_action(app: Flask) -> None:
    routes = set(_routes(app))
    assert len(routes) >= 30, "the URL map lists the console and the API"
    listed = {row for row in TABLE if not row.startswith("act ")}
    assert routes - listed == set(), "a route the table does not say who may use"
    assert listed - routes == set(), "a row of the table for a route that is gone"
    assert {row for row in TABLE if row.startswith("act ")} == {f"act {a.value}" for a in Action}
    assert all(len(cells) == len(WHO) for cells in TABLE.values())
    for row, cells in TABLE.items():
        assert all(isinstance(c, bool) for c in cells) == row.startswith("act "), row
    for action in Action:
        assert SOURCE[action] in TRANSITIONS[action].sources, action
    assert set(SOURCE.values()) <= set(CASE_PATHS), (
        "World.case_in reaches each state it is tried in"
    )


# ------------------------------------------------------------------------------- the world


@dataclass
class World:
    """The accounts, and what the routes' placeholders name: a case of the city's with a stored
    recording, a call, the roster."""

    app: Flask
    db: Session
    settings: Settings
    case: str
    sid: str
    call_sid: str
    users: dict[str, StaffUser] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def values(self, **more: str | int) -> dict[str, str | int]:
        return {
            "number": self.case,
            "sid": self.sid,
            "call_sid": self.call_sid,
            "filename": "console.css",
            **more,
        }

    def case_in(self, state: CaseState) -> str:
        """A fresh case of the city's, taken to `state`; its number."""
        return open_case(self.app, self.db, unit=UNIT, category=UNIT, state=state)


@pytest.fixture
def world(
    app: Flask, db_session: Session, settings: Settings, twilio: TwilioSigner, prism: str
) -> World:
    # Twilio's REST API is Prism: the forms that place calls (a call-back) can do their work.
    app.extensions["hotline.settings"] = dataclasses.replace(settings, twilio_api_base_url=prism)
    users = {
        who: add_user(db_session, username, role, unit=unit)
        for who, (username, role, unit) in ACCOUNTS.items()
    }
    store.save_roster(db_session, load_roster(CONFIG_DIR / "roster.yaml", "CN"))
    db_session.commit()
    app.extensions["hotline.roster"].invalidate()

    call = call_params(settings)
    assert twilio.post("/voice/incoming", call).status_code == 200

    sid = "RE" + uuid.uuid4().hex
    key = f"2026/12/01/{sid}.wav"
    stored = storage(settings).put(key, [b"RIFF\x00\x00\x00\x00WAVE"])
    db_session.add(
        Recording(
            recording_sid=sid,
            call_sid=call["CallSid"],
            media_url=f"https://api.twilio.com/2010-04-01/Accounts/AC{'7' * 32}/Recordings/{sid}",
            state=RecordingState.STORED,
            storage_key=key,
            content_type="audio/x-wav",
            size_bytes=stored.size,
            sha256=stored.sha256,
        )
    )
    w = World(app, db_session, settings, case="", sid=sid, call_sid=call["CallSid"], users=users)
    w.case = w.case_in(CaseState.DISPATCHED)
    db_session.execute(update(Case).where(Case.number == w.case).values(recording_sid=sid))
    db_session.commit()
    w.case_in(CaseState.RECEIVED)  # and one more, nobody's yet
    return w


def _client_as(w: World, who: str) -> tuple[FlaskClient, TestResponse]:
    """A browser of `who`, after trying to log in (anonymous: as nobody); the login's answer."""
    client = w.app.test_client()
    username = ACCOUNTS[who][0] if who in ACCOUNTS else "nobody-at-all"
    return client, login(client, username)


def _headers(w: World, who: str) -> dict[str, str]:
    if who == "anonymous":
        return {}
    if who not in w.tokens:
        w.tokens[who] = token_for(w.db, w.users[who])
    return bearer(w.tokens[who])


# ------------------------------------------------------------------------ the console's forms


def _fresh_task(w: World) -> int:
    call_sid = "CA" + uuid.uuid4().hex
    callbacks.open_callback(
        w.db,
        {
            "call_sid": call_sid,
            "at": utcnow().isoformat(),
            "language": "zh",
            "kind": "abandoned_ivr",
            "priority": 2,
            # A number of its own: a second task for one number would be grouped on the first.
            "caller_number": f"+86138{uuid.uuid4().int % 10**8:08d}",
        },
    )
    w.db.commit()
    task = w.db.scalar(select(CallbackTask).where(CallbackTask.call_sid == call_sid))
    assert task is not None
    return task.id


def _task(w: World, task_id: int) -> CallbackTask:
    w.db.expire_all()
    task = w.db.get(CallbackTask, task_id)
    assert task is not None
    return task


def _available(w: World, officer: str) -> bool:
    w.db.expire_all()
    roster = store.load_roster(w.db)
    assert roster is not None
    return roster.officers[officer].available


#: A console form: (world, browser, its route, the CSRF token) → (the answer, whether it changed
#: what it is for).
Form = Callable[[World, FlaskClient, Rule, str], tuple[TestResponse, bool]]


def _roster_available(
    w: World, client: FlaskClient, rule: Rule, csrf: str
) -> tuple[TestResponse, bool]:
    before = _available(w, "P001")
    data = {"officer": "P001", "available": "0" if before else "1", "csrf": csrf}
    response = client.post(_path(rule, w.values()), data=data)
    return response, _available(w, "P001") != before


def _roster_save(w: World, client: FlaskClient, rule: Rule, csrf: str) -> tuple[TestResponse, bool]:
    before = store.roster_version(w.db)
    roster = store.load_roster(w.db)
    assert roster is not None
    doc = roster_to_dict(roster)
    doc["officers"][0]["name"] = "新名字"
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    response = client.post(_path(rule, w.values()), data={"roster": text, "csrf": csrf})
    w.db.expire_all()
    return response, store.roster_version(w.db) != before


def _callback_claim(
    w: World, client: FlaskClient, rule: Rule, csrf: str
) -> tuple[TestResponse, bool]:
    task_id = _fresh_task(w)
    response = client.post(_path(rule, w.values(task_id=task_id)), data={"csrf": csrf})
    return response, _task(w, task_id).claimed_by is not None


def _callback_outcome(
    w: World, client: FlaskClient, rule: Rule, csrf: str
) -> tuple[TestResponse, bool]:
    task_id = _fresh_task(w)
    data = {"outcome": "reached", "note": "回拨成功", "csrf": csrf}
    response = client.post(_path(rule, w.values(task_id=task_id)), data=data)
    return response, _task(w, task_id).closed_at is not None


def _alert_acknowledge(
    w: World, client: FlaskClient, rule: Rule, csrf: str
) -> tuple[TestResponse, bool]:
    alert = Alert(
        call_sid="CA" + uuid.uuid4().hex, priority=0, kind="test", message="无人接听的紧急呼叫"
    )
    w.db.add(alert)
    w.db.commit()
    response = client.post(_path(rule, w.values(alert_id=alert.id)), data={"csrf": csrf})
    w.db.expire_all()
    seen = w.db.get(Alert, alert.id)
    assert seen is not None
    return response, seen.acknowledged_at is not None


def _desk_state(w: World, client: FlaskClient, rule: Rule, csrf: str) -> tuple[TestResponse, bool]:
    data = {"state": "available", "phone": "+8613805990601", "csrf": csrf}
    before = set(w.db.scalars(select(CallTaker.username)))
    response = client.post(_path(rule, w.values()), data=data)
    w.db.expire_all()
    after = set(w.db.scalars(select(CallTaker.username)))
    return response, after != before


def _callback_dial(
    w: World, client: FlaskClient, rule: Rule, csrf: str
) -> tuple[TestResponse, bool]:
    """One click calls a caller back: the user, signed in at the desk, is rung first."""
    task_id = _fresh_task(w)
    for user in w.users.values():  # whoever is asking sits at the desk, free
        desk.set_state(w.db, user.username, "available", phone="+8613805990601")
    w.db.commit()
    response = client.post(_path(rule, w.values(task_id=task_id)), data={"csrf": csrf})
    return response, _task(w, task_id).claimed_by is not None


def _not_my_call(w: World, client: FlaskClient, rule: Rule, csrf: str) -> tuple[TestResponse, bool]:
    """A desk form about a call the user was never put through to."""
    before = w.db.scalar(select(func.count()).select_from(Case))
    data = {"call": "CA" + "9" * 32, "category": "city_management", "route": "fire"}
    response = client.post(_path(rule, w.values()), data={**data, "mode": "dispatch", "csrf": csrf})
    w.db.expire_all()
    return response, w.db.scalar(select(func.count()).select_from(Case)) != before


FORMS: dict[str, Form] = {
    "POST console.roster_available": _roster_available,
    "POST console.roster_save": _roster_save,
    "POST console.callback_claim": _callback_claim,
    "POST console.callback_outcome": _callback_outcome,
    "POST console.alert_acknowledge": _alert_acknowledge,
    "POST console.desk_state": _desk_state,
    "POST console.callback_dial": _callback_dial,
    "POST console.desk_case": _not_my_call,
    "POST console.desk_transfer": _not_my_call,
}


@pytest.mark.parametrize("who", WHO)
def test_the_console_answers_each_role_as_the_table_says(world: World, who: str) -> None:
    routes = _routes(world.app)
    client, logged_in = _client_as(world, who)
    _check(logged_in, expected("POST console.login", who), "POST console.login")

    for row in (r for r in TABLE if r.startswith("GET console.")):
        path = _path(routes[row], world.values())
        response = client.get(path)
        _check(response, expected(row, who), f"{who}: {row} {path}")
        response.close()

    csrf = csrf_of(client)
    for row, form in FORMS.items():
        want = expected(row, who)
        response, changed = form(world, client, routes[row], csrf)
        _check(response, want, f"{who}: {row}")
        done = isinstance(want, Go) and want != LOGIN
        assert changed == done, f"{who}: {row} {'did nothing' if done else 'changed something'}"
        if done and isinstance(want, Go):
            assert "✓" in client.get(want.path).get_data(as_text=True), f"{who}: {row} flashed"

    listed = {r for r in TABLE if r.startswith(("GET console.", "POST console."))}
    assert listed - {r for r in TABLE if r.startswith("GET ")} - set(FORMS) == {
        "POST console.login",
        "POST console.logout",
        "POST console.case_act",
    }, "every form is tried here (login above, logout below, the case actions on their own)"

    logout = client.post(_path(routes["POST console.logout"], world.values()), data={"csrf": csrf})
    _check(logout, expected("POST console.logout", who), f"{who}: POST console.logout")
    _check(client.get("/console/"), LOGIN, f"{who}: after logging out")


@pytest.mark.parametrize("who", WHO)
def test_the_api_answers_each_role_as_the_table_says(world: World, who: str) -> None:
    routes = _routes(world.app)
    headers = _headers(world, who)
    for row in (r for r in TABLE if r.startswith("GET api_v1.")):
        path = _path(routes[row], world.values())
        response = world.app.test_client().get(path, headers=headers)
        _check(response, expected(row, who), f"{who}: {row} {path}")
        response.close()


# --------------------------------------------------------------------------- the case actions


def _after(w: World, number: str) -> tuple[CaseState, str | None, int, CaseEvent | None]:
    """The case's state, unit, number of events and last event."""
    w.db.expire_all()
    case = w.db.scalar(select(Case).where(Case.number == number))
    assert case is not None
    count = w.db.scalar(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id)
    )
    last = w.db.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())
    )
    return case.state, case.unit_code, count or 0, last


def _shown_actions(page: str) -> set[str]:
    """The actions the case page offers (the options of its action select)."""
    found = re.search(r'<select name="action"[^>]*>(.*?)</select>', page, re.S)
    return set(re.findall(r'<option value="([^"]+)"', found.group(1))) if found else set()


def _assert_outcome(
    w: World,
    who: str,
    action: Action,
    number: str,
    before: tuple[CaseState, str | None, int, CaseEvent | None],
    actor: str,
) -> None:
    state, unit, count, last = _after(w, number)
    if not may(who, action):
        assert (state, unit, count) == before[:3], f"{who} {action}: the case is untouched"
        return
    assert state is transition(SOURCE[action], action), f"{who} {action}"
    assert count == before[2] + 1 and last is not None
    assert (last.action, last.actor) == (action.value, actor), f"{who} {action}"
    if action is Action.DISPATCH:
        assert unit == OTHER_UNIT
    if action is Action.ESCALATE:
        case = w.db.scalar(select(Case).where(Case.number == number))
        assert case is not None and case.escalated_at is not None


@pytest.mark.parametrize("who", WHO)
def test_each_role_takes_exactly_its_case_actions_in_the_console(world: World, who: str) -> None:
    rule = _routes(world.app)["POST console.case_act"]
    client, _ = _client_as(world, who)
    csrf = csrf_of(client)
    seen = who in ("unit", "dispatcher", "supervisor", "admin")
    for action in Action:
        number = world.case_in(SOURCE[action])
        page = client.get(f"/console/cases/{number}")
        if seen:
            assert page.status_code == 200
            offered = {a.value for a in allowed_actions(SOURCE[action]) if may(who, a)}
            assert _shown_actions(page.get_data(as_text=True)) == offered, (who, SOURCE[action])
        before = _after(world, number)
        # What the page's form sends: the action, a note and the unit select's value.
        data = {"action": action.value, "note": "说明", "unit": OTHER_UNIT, "csrf": csrf}
        response = client.post(_path(rule, world.values(number=number)), data=data)
        if may(who, action):
            want: Expected = Go(f"/console/cases/{number}")
        else:
            want = LOGIN if who in ("anonymous", "client") else 403
        _check(response, want, f"{who}: {action}")
        if may(who, action):
            flashed = client.get(f"/console/cases/{number}").get_data(as_text=True)
            assert "✓" in flashed, f"{who}: {action} worked"
        actor = f"console:{ACCOUNTS[who][0]}" if who in ACCOUNTS else ""
        _assert_outcome(world, who, action, number, before, actor)


@pytest.mark.parametrize("who", WHO)
def test_each_role_takes_exactly_its_case_actions_over_the_api(world: World, who: str) -> None:
    rule = _routes(world.app)["POST api_v1.act_on_case"]
    headers = _headers(world, who)
    for action in Action:
        number = world.case_in(SOURCE[action])
        before = _after(world, number)
        body: dict[str, str] = {"action": action.value, "note": "说明"}
        if action is Action.DISPATCH:
            body["unit"] = OTHER_UNIT
        response = world.app.test_client().post(
            _path(rule, world.values(number=number)), json=body, headers=headers
        )
        if may(who, action):
            want: Expected = 200
        else:
            want = 401 if who == "anonymous" else 403
        _check(response, want, f"{who}: {action}")
        if may(who, action):
            assert response.get_json()["state"] == transition(SOURCE[action], action).value
        actor = f"api:{ACCOUNTS[who][0]}" if who in ACCOUNTS else ""
        _assert_outcome(world, who, action, number, before, actor)
