"""Repeated calls from one number are grouped on its open call-back task, not multiplied: the
later call's task is kept (closed, `grouped`), the open one counts it and takes the more urgent
priority; a replay changes nothing; once the task is closed, the next call opens a new one."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from routing import callbacks
from routing.models import CallbackTask
from staff.models import Role
from tests.support.staff import add_user, login

NUMBER = "+8613800138000"


def _record(call: str, kind: str, priority: int, minutes: int = 0) -> dict[str, object]:
    return {
        "call_sid": "CA" + call * 32,
        "kind": kind,
        "priority": priority,
        "caller_number": NUMBER,
        "language": "zh",
        "at": (utcnow() + dt.timedelta(minutes=minutes)).isoformat(),
    }


def _tasks(db_session: Session) -> list[CallbackTask]:
    db_session.expire_all()
    return list(db_session.scalars(select(CallbackTask).order_by(CallbackTask.created_at)))


def test_a_second_call_from_the_same_number_is_grouped_and_raises_the_priority(
    db_session: Session,
) -> None:
    callbacks.open_callback(db_session, _record("1", "abandoned_ivr", 2))
    later = _record("2", "abandoned_bridge", 0, minutes=5)
    callbacks.open_callback(db_session, later)
    callbacks.open_callback(db_session, later)  # a replay of the same record
    db_session.commit()

    first, second = _tasks(db_session)
    assert (first.closed_at, first.repeats, first.priority) == (None, 1, 0)
    assert (second.outcome, second.closed_at is not None) == (callbacks.GROUPED, True)
    assert f"task {first.id}" in second.note
    assert callbacks.open_callback_count(db_session, priority=0) == 1, "one task to call back"


def test_after_the_call_back_the_next_call_opens_a_new_task(db_session: Session) -> None:
    callbacks.open_callback(db_session, _record("1", "abandoned_ivr", 2))
    db_session.commit()
    (task,) = _tasks(db_session)
    callbacks.record_callback(db_session, task.id, "reached", who="console:li", note="")
    callbacks.open_callback(db_session, _record("3", "abandoned_queue", 1, minutes=9))
    db_session.commit()
    tasks = _tasks(db_session)
    assert [t.closed_at is None for t in tasks] == [False, True]
    assert tasks[1].repeats == 0


def test_the_call_backs_page_says_how_often_the_number_called(
    client: FlaskClient, db_session: Session
) -> None:
    callbacks.open_callback(db_session, _record("1", "abandoned_ivr", 2))
    callbacks.open_callback(db_session, _record("2", "abandoned_ivr", 2, minutes=1))
    callbacks.open_callback(db_session, _record("4", "abandoned_ivr", 2, minutes=2))
    add_user(db_session, "li", Role.DISPATCHER)
    db_session.commit()
    login(client, "li")
    page = client.get("/console/callbacks?lang=zh").get_data(as_text=True)
    assert page.count(f'href="tel:{NUMBER}"') == 1, "one row for the number"
    assert "又来电 2 次" in page
