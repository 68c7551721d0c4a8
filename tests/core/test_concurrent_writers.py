"""The embedded default under a small city's load: many writers at once, not one 500.

Eight clients write at the same time through Open311 (city apps filing requests), the JSON API
(a unit system dispatching) and the console (dispatchers logging in and acting), against a
database of their own that really commits — on SQLite, where a deferred transaction that has
read cannot start writing once another connection committed ("database is locked" at once),
and on PostgreSQL. And the probe's flood: one key filing from eight connections at once is cut off
at its limit with 429s, never a 500.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from cases.models import Case
from config.settings import CONFIG_DIR
from core import db, migrate
from routing import store
from routing.rosterfile import load_roster
from staff.models import Role
from tests.support import TwilioSigner, call_params, make_settings, twiml
from tests.support.staff import PASSWORD, add_user, bearer, csrf_of, token_for

THREADS_PER_KIND = {"open311": 4, "api": 2, "console": 2}
REQUESTS_EACH = 6


LOTS = "10000 per minute"
#: The burst's limits: one key may file BURST_KEY_LIMIT requests a minute.
BURST_KEY_LIMIT = 20


def _committing(url: str, tmp_path: Path, **limits: str) -> Iterator[Flask]:
    migrate.upgrade(migrate.alembic_config(url=url))
    defaults = {
        "rate_limit_open311_key": LOTS,
        "rate_limit_open311_address": LOTS,
        "rate_limit_api_writes": LOTS,
        "rate_limit_login": LOTS,
    }
    app = create_app(make_settings(url, tmp_path, **{**defaults, **limits}))
    yield app
    db.database(app).engine.dispose()


@pytest.fixture
def committing_app(empty_url: str, tmp_path: Path) -> Iterator[Flask]:
    """Limits out of the way: these tests are about the database."""
    yield from _committing(empty_url, tmp_path)


@pytest.fixture
def burst_app(empty_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The shipped kind of limits, small enough for a burst to cross them."""
    yield from _committing(
        empty_url,
        tmp_path,
        rate_limit_open311_key=f"{BURST_KEY_LIMIT} per minute",
        rate_limit_api_writes="10 per minute",
    )


def _filing(key: str, i: int) -> dict[str, str]:
    return {
        "api_key": key,
        "service_code": "city_management",
        "description": f"路灯不亮 {i}",
        "lat": "27.3375",
        "long": "117.4921",
        "phone": "13800138000",
    }


def _open311(key: str) -> Callable[[FlaskClient, int], int]:
    def post(client: FlaskClient, i: int) -> int:
        return client.post("/open311/v2/requests.json", data=_filing(key, i)).status_code

    return post


def _api(token: str, numbers: list[str]) -> Callable[[FlaskClient, int], int]:
    def post(client: FlaskClient, i: int) -> int:
        body = {"action": "dispatch", "unit": "city_management"}
        url = f"/api/v1/cases/{numbers[i % len(numbers)]}/actions"
        return client.post(url, json=body, headers=bearer(token)).status_code

    return post


def _console(username: str, numbers: list[str]) -> Callable[[FlaskClient, int], int]:
    def post(client: FlaskClient, i: int) -> int:
        login = client.post(
            "/console/login",
            data={"username": username, "password": PASSWORD, "csrf": csrf_of(client)},
        )
        if login.status_code >= 500:
            return login.status_code
        number = numbers[(i + 3) % len(numbers)]
        token = csrf_of(client, f"/console/cases/{number}")
        form = {"action": "dispatch", "unit": "city_management", "csrf": token}
        return client.post(f"/console/cases/{number}/act", data=form).status_code

    return post


def test_eight_concurrent_writers_get_no_500(committing_app: Flask) -> None:
    app = committing_app
    with app.app_context():
        session = db.session()
        key = token_for(session, add_user(session, "city-app", Role.CLIENT))
        api_token = token_for(session, add_user(session, "unit-system", Role.DISPATCHER))
        for n in range(THREADS_PER_KIND["console"]):
            add_user(session, f"disp{n}", Role.DISPATCHER)
        session.commit()
    seed = app.test_client()
    numbers = []
    for i in range(6):
        answer = _open311(key)(seed, 1000 + i)
        assert answer == 201
    with app.app_context():
        numbers = list(db.session().scalars(select(Case.number).order_by(Case.id)))

    work: list[Callable[[FlaskClient, int], int]] = [_open311(key)] * THREADS_PER_KIND["open311"]
    work += [_api(api_token, numbers)] * THREADS_PER_KIND["api"]
    work += [_console(f"disp{n}", numbers) for n in range(THREADS_PER_KIND["console"])]
    assert len(work) >= 8
    statuses: list[int] = []
    lock, barrier = threading.Lock(), threading.Barrier(len(work))

    def run(job: Callable[[FlaskClient, int], int]) -> None:
        client = app.test_client()
        barrier.wait()
        for i in range(REQUESTS_EACH):
            status = job(client, i)
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(statuses) == len(work) * REQUESTS_EACH
    assert [s for s in statuses if s >= 500] == [], sorted(statuses)
    with app.app_context():
        filed = db.session().scalar(select(func.count()).select_from(Case))
    assert filed == 6 + THREADS_PER_KIND["open311"] * REQUESTS_EACH, "every request kept"


def test_the_first_call_of_a_fresh_process_reads_the_roster_without_waiting_on_itself(
    committing_app: Flask,
) -> None:
    # The webhook's own session holds SQLite's write lock; the roster cache reads on another
    # connection in the same request. Were that read to wait for the write lock too, it would
    # wait on its own request, time out, and send an emergency to the last resort only.
    app = committing_app
    settings = app.extensions["hotline.settings"]
    with app.app_context():
        session = db.session()
        store.save_roster(session, load_roster(CONFIG_DIR / "roster.yaml", "CN"))
        session.commit()
    twilio = TwilioSigner(app.test_client(), settings)
    params = call_params(settings)
    twilio.post("/voice/incoming", params)

    root = twiml(twilio.post("/voice/ivr/gather?step=0", {**params, "Digits": "1"}))

    assert db.database(app).available(), "the database was never taken for down"
    numbers = [(n.text or "").strip() for n in root.iter("Number")]
    assert numbers and settings.fallback_number not in numbers, "the officers on duty ring first"


def test_a_burst_from_one_client_is_cut_off_by_its_limit_with_no_500(burst_app: Flask) -> None:
    """The probe's flood (one key filing as fast as it can, from many connections) meets the
    limit: exactly the allowed requests are filed, the rest get 429 with Retry-After, nothing
    fails, and other clients' writes go on."""
    app = burst_app
    with app.app_context():
        session = db.session()
        key = token_for(session, add_user(session, "city-app", Role.CLIENT))
        other = token_for(session, add_user(session, "other-app", Role.CLIENT))
        session.commit()
    answers: list[tuple[int, str | None]] = []
    lock, barrier = threading.Lock(), threading.Barrier(8)

    def flood() -> None:
        client = app.test_client()
        barrier.wait()
        for i in range(12):
            answer = client.post("/open311/v2/requests.json", data=_filing(key, i))
            with lock:
                answers.append((answer.status_code, answer.headers.get("Retry-After")))

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    statuses = sorted(status for status, _ in answers)
    assert len(statuses) == 8 * 12
    assert [s for s in statuses if s >= 500] == [], statuses
    assert set(statuses) == {201, 429}
    assert statuses.count(201) == BURST_KEY_LIMIT, "the limit holds under concurrency"
    assert all(retry is not None and int(retry) > 0 for status, retry in answers if status == 429)
    assert _open311(other)(app.test_client(), 0) == 201, "another city app is not affected"
    with app.app_context():
        filed = db.session().scalar(select(func.count()).select_from(Case))
    assert filed == BURST_KEY_LIMIT + 1, "every 201 is a case, no 429 left one behind"
