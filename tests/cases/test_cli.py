"""`hotline cases list|show|reopen` print every time in the hotline's zone and say which, once; a
deadline as the local day it ends ("4 Jun, end of day"), never as the next day's 00:00 or in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import cli
from cases import service
from cases.models import Case
from cases.workflow import Action
from core.times import deadline

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: An ISO 8601 moment with a UTC offset, as the events' data store them.
ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def run(app: Flask, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["cases", *args], obj=ScriptInfo(create_app=lambda: app))
    return result.exit_code, result.output


def a_monday_this_year() -> dt.date:
    """A Monday of this year's June (no holidays are stored in the tests' database)."""
    first = dt.date(dt.datetime.now(SHANGHAI).year, 6, 1)
    return first + dt.timedelta(days=-first.weekday() % 7)


def new_case(db_session: Session, created: dt.datetime, call: int) -> Case:
    """A help case (3 working days) created at `created`."""
    return service.create_case(
        db_session,
        call_sid=f"CA{call:032x}",
        category="utilities",
        language="zh",
        caller_number="+8613800138000",
        caller_raw="+8613800138000",
        transcript="我家停水了",
        tz=SHANGHAI,
        holidays={},
        now=created,
    )


def stored(db_session: Session, number: str) -> Case:
    return db_session.scalars(
        select(Case).where(Case.number == number).execution_options(populate_existing=True)
    ).one()


def test_list_writes_deadlines_as_the_local_day_they_end(app: Flask, db_session: Session) -> None:
    monday = a_monday_this_year()
    thursday = monday + dt.timedelta(days=3)
    created = dt.datetime.combine(monday, dt.time(10, 0), SHANGHAI)
    first = new_case(db_session, created, 1)
    second = new_case(db_session, created + dt.timedelta(minutes=5), 2)
    # A deadline that is not a midnight (set by hand) is written with its time.
    second.due_at = dt.datetime.combine(thursday, dt.time(18, 30), SHANGHAI).astimezone(dt.UTC)
    db_session.commit()
    assert stored(db_session, first.number).due_at == dt.datetime.combine(
        thursday + dt.timedelta(days=1), dt.time(0, 0), SHANGHAI
    ), "three working days end at the midnight after Thursday"

    code, output = run(app, "list")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "times in Asia/Shanghai"
    day = f"{thursday.day} {MONTHS[thursday.month - 1]}"
    (row,) = [line for line in lines if line.startswith(first.number)]
    assert f"due {day}, end of day" in row
    (row,) = [line for line in lines if line.startswith(second.number)]
    assert f"due {day} 18:30" in row
    assert output.count("Asia/Shanghai") == 1
    assert " 00:00" not in output, "not the next day's midnight"


def test_show_writes_every_moment_in_local_time(app: Flask, db_session: Session) -> None:
    monday = a_monday_this_year()
    thursday = monday + dt.timedelta(days=3)
    created = dt.datetime.combine(monday, dt.time(10, 0), SHANGHAI)
    case = new_case(db_session, created, 3)
    units = app.extensions["hotline.units"]
    later = created + dt.timedelta(hours=2, minutes=15)
    service.apply(
        db_session,
        case.number,
        Action.DISPATCH,
        actor="t",
        unit_code="water_supply",
        units=units,
        now=later,
    )
    db_session.commit()

    code, output = run(app, "show", case.number)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[1] == "  times in:    Asia/Shanghai"
    assert output.count("Asia/Shanghai") == 1
    end = f"{thursday.day} {MONTHS[thursday.month - 1]}, end of day"
    (due,) = [line for line in lines if line.startswith("  due:")]
    assert due.startswith(f"  due:         {end}")
    remind = stored(db_session, case.number).remind_at.astimezone(SHANGHAI)
    assert due.endswith(f"   remind: {remind:%Y-%m-%d %H:%M}")
    assert f"  created:     {monday:%Y-%m-%d} 10:00   updated: {monday:%Y-%m-%d} 12:15" in lines
    timeline = output.split("timeline:\n")[1].splitlines()
    assert timeline[0].startswith(f"  {monday:%Y-%m-%d} 10:00  receive")
    assert f"due_at={end}" in timeline[0], "the deadline the event recorded, as the local day"
    assert timeline[1].startswith(f"  {monday:%Y-%m-%d} 12:15  dispatch")
    assert not ISO_MOMENT.search(output), "no moment left in UTC ISO 8601"
    assert "+00:00" not in output


def test_reopen_says_the_new_deadline_in_local_terms(app: Flask, db_session: Session) -> None:
    now = dt.datetime.now(dt.UTC)
    case = new_case(db_session, now, 4)
    units = app.extensions["hotline.units"]
    for action, extra in (
        (Action.DISPATCH, {"unit_code": "water_supply", "units": units}),
        (Action.ACCEPT, {}),
        (Action.RESOLVE, {"note": "已修复"}),
    ):
        service.apply(db_session, case.number, action, actor="t", now=now, **extra)
    db_session.commit()

    code, output = run(app, "reopen", case.number, "--note", "又停水了")
    assert code == 0, output
    due = stored(db_session, case.number).due_at
    shown = deadline(due, SHANGHAI, "en", now=now)
    assert output == (f"{case.number}: reopened, due {shown} (Asia/Shanghai; reopened 1 time(s))\n")
    code, output = run(app, "show", case.number)
    assert code == 0, output
    (event,) = [line for line in output.splitlines() if " reopen " in line]
    assert f"due_at={shown}" in event and "previous_due_at=" in event
    assert not ISO_MOMENT.search(output) and "+00:00" not in output
