"""督办: remind a unit before a case's deadline, escalate to its supervisor when it passes.

Run by the job sweep every minute (and by `hotline jobs run-due`); the case's own `remind_at`
and `due_at` columns are the schedule, so nothing is lost if a worker or the queue dies. Each
step is a conditional UPDATE, so two workers never remind or escalate a case twice.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Flask
from sqlalchemy.orm import Session

from cases.models import Case
from cases.queries import due_for_escalation, due_for_reminder
from cases.service import mark_escalated, mark_reminded
from cases.units import Units
from core import jobs, sms, times
from core.alerts import raise_alert
from core.db import utcnow

log = logging.getLogger(__name__)


def supervise(
    session: Session, units: Units, tz: dt.tzinfo, now: dt.datetime | None = None
) -> tuple[int, int]:
    """Send due reminders and escalations; returns how many of each were sent."""
    now = now or utcnow()
    reminded = escalated = 0
    for case in due_for_reminder(session, now):
        if mark_reminded(session, case, now=now):
            reminded += 1
            _text(session, units, case, "remind", tz)
    for case in due_for_escalation(session, now):
        if mark_escalated(session, case, now=now):
            escalated += 1
            _text(session, units, case, "escalate", tz)
            raise_alert(
                session,
                {
                    "call_sid": None,
                    "priority": 1,
                    "kind": f"overdue:{case.number}",
                    "message": f"case {case.number} ({case.unit_code}) is past its deadline",
                    "at": now,
                },
            )
    return reminded, escalated


def _text(session: Session, units: Units, case: Case, what: str, tz: dt.tzinfo) -> None:
    unit = units.get(case.unit_code or "") or units.default
    due = times.deadline(case.due_at, tz, "zh")
    if what == "remind":
        to = unit.duty_contact
        body = f"【民生110督办】工单 {case.number} 将于 {due} 到期，请及时办理并反馈。"
    else:
        to = unit.supervisor
        body = f"【民生110督办】工单 {case.number}（{unit.name_zh}）已超期，请督促办理。"
    sms.schedule_sms(
        session,
        key=f"case-{what}:{case.number}",
        to=to,
        body=body,
        case_number=case.number,
        to_staff=True,
    )


def notify_dispatched(session: Session, units: Units, case: Case, tz: dt.tzinfo) -> None:
    """转办: text the unit's duty contact the case number and deadline."""
    unit = units.get(case.unit_code or "") or units.default
    due = times.deadline(case.due_at, tz, "zh")
    sms.schedule_sms(
        session,
        key=f"case-dispatch:{case.number}:{unit.code}",
        to=unit.duty_contact,
        body=f"【民生110派单】工单 {case.number} 已派至{unit.name_zh}，请于 {due} 前办理并反馈。",
        case_number=case.number,
        to_staff=True,
    )


def init_app(app: Flask) -> None:
    """Supervise on every sweep."""

    def tick(session: Session, now: dt.datetime) -> None:
        settings = app.extensions["hotline.settings"]
        reminded, escalated = supervise(session, app.extensions["hotline.units"], settings.tz, now)
        if reminded or escalated:
            log.info("supervision: %d reminders, %d escalations", reminded, escalated)

    jobs.every_sweep(app, tick)
