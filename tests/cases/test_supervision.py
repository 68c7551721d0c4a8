"""督办 with a frozen clock: reminder before the deadline, escalation after, feedback closes it."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.queries import get_case, timeline
from cases.service import apply, create_case
from cases.workflow import CaseState
from config.settings import Settings
from core import jobs
from core.alerts import Alert
from core.calendar import stored_holidays
from core.jobs import Job


def open_case(app: Flask, db_session: Session, settings: Settings, now: dt.datetime) -> str:
    case = create_case(
        db_session,
        call_sid="CA" + "1" * 32,
        category="utilities",
        language="zh",
        caller_number="+8613800138000",
        caller_raw="+8613800138000",
        transcript="停水两天了",
        tz=settings.tz,
        holidays=stored_holidays(db_session),
        now=now,
    )
    apply(
        db_session,
        case.number,
        "dispatch",
        actor="dispatcher",
        unit_code="water_supply",
        units=app.extensions["hotline.units"],
        now=now,
    )
    db_session.commit()
    return case.number


def texts(db_session: Session) -> dict[str, dict[str, str]]:
    return {
        job.key.split(":")[0]: job.payload
        for job in db_session.scalars(select(Job).where(Job.kind == "sms.send"))
    }


def test_a_unit_is_reminded_then_its_supervisor_alerted_then_it_reports_back(
    app: Flask, db_session: Session, settings: Settings
) -> None:
    monday_9am = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shaowu
    number = open_case(app, db_session, settings, monday_9am)
    case = get_case(db_session, number)
    unit = app.extensions["hotline.units"]["water_supply"]

    jobs.run_sweepers(app, now=case.remind_at - dt.timedelta(minutes=1))
    assert "case-remind" not in texts(db_session), "not before its time"

    jobs.run_sweepers(app, now=case.remind_at)
    jobs.run_sweepers(app, now=case.remind_at + dt.timedelta(minutes=1))  # a second sweep
    reminders = [j for j in db_session.scalars(select(Job)) if j.key.startswith("case-remind:")]
    assert len(reminders) == 1
    assert reminders[0].payload["to"] == unit.duty_contact
    assert number in reminders[0].payload["body"]

    jobs.run_sweepers(app, now=case.due_at + dt.timedelta(seconds=1))
    assert texts(db_session)["case-escalate"]["to"] == unit.supervisor
    alert = db_session.scalars(select(Alert).where(Alert.kind == f"overdue:{number}")).one()
    assert alert.priority == 1

    apply(
        db_session, number, "accept", actor="water_supply", now=case.due_at + dt.timedelta(hours=1)
    )
    resolved = apply(
        db_session,
        number,
        "resolve",
        actor="water_supply",
        note="已修复管道，恢复供水",
        now=case.due_at + dt.timedelta(hours=2),
    )
    db_session.commit()
    assert resolved.state is CaseState.RESOLVED, "ready for the callback survey"
    assert resolved.feedback == "已修复管道，恢复供水"
    actions = [e.action for e in timeline(db_session, resolved)]
    assert actions == ["receive", "dispatch", "remind", "escalate", "accept", "resolve"]
