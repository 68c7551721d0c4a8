"""`hotline surveys …`: opt-outs, the schedule, placing a survey call now, the figures.

Times are printed in the hotline's zone (TIMEZONE), and the output says which once.
"""

from __future__ import annotations

import datetime as dt
import time

import click
from flask import current_app
from sqlalchemy import select

from core import db, jobs
from core.calendar import stored_holidays
from core.jobs import Job
from core.phone import InvalidPhoneNumber, to_e164
from core.times import local
from core.webhooks import settings
from surveys import attempts, dialer, report, schedule, service
from surveys.models import CaseSurvey, SurveyState
from surveys.report import GroupBy
from surveys.schedule import next_calling_time


@click.group("surveys", help="Callback surveys (回访).")
def surveys_cli() -> None:
    pass


@surveys_cli.command("optout")
@click.argument("number")
def optout(number: str) -> None:
    """Never place a survey call to NUMBER again (cancels scheduled ones)."""
    try:
        e164 = to_e164(number, settings().default_region)
    except InvalidPhoneNumber as exc:
        raise click.ClickException(str(exc)) from None
    session = db.session()
    added = service.opt_out(session, e164, "cli")
    session.commit()
    click.echo(f"{e164} {'opted out' if added else 'had already opted out'}")


@surveys_cli.command("list")
@click.option("--state", type=click.Choice([s.value for s in SurveyState]), default=None)
def list_surveys(state: str | None) -> None:
    """Surveys with their due time (local) and state."""
    query = select(CaseSurvey).order_by(CaseSurvey.due_at)
    if state is not None:
        query = query.where(CaseSurvey.state == SurveyState(state))
    tz = settings().tz
    rows = db.session().scalars(query.limit(500)).all()
    if rows:
        click.echo(f"times in {settings().timezone}")
    for s in rows:
        outcome = f" {s.outcome}" if s.outcome else ""
        click.echo(
            f"{s.case_number}  round {s.round}  {s.state.value:<11}{outcome}  "
            f"attempts {s.attempts}  due {local(s.due_at, tz)}  {s.note}".rstrip()
        )
    click.echo(f"{len(rows)} survey(s)")


@surveys_cli.command("report")
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="[default: 30 days ago]"
)
@click.option(
    "--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="[default: today, inclusive]"
)
@click.option(
    "--by", type=click.Choice(["unit", "category", "both"]), default="both", show_default=True
)
def report_command(since: dt.datetime | None, until: dt.datetime | None, by: GroupBy) -> None:
    """Response, resolution and satisfaction rates per unit and category (local dates)."""
    s = settings()
    today = dt.datetime.now(s.tz).date()
    first = since.date() if since else today - dt.timedelta(days=30)
    last = until.date() if until else today
    if last < first:
        raise click.BadParameter("--until is before --since", param_hint="--until")
    start = dt.datetime.combine(first, dt.time(), s.tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), s.tz)
    definition = current_app.extensions["hotline.survey"]
    rows = report.survey_report(db.session(), definition, since=start, until=end, by=by)
    click.echo(f"callback surveys ended {first} to {last} ({s.timezone})")
    click.echo(report.render(rows, definition))


@surveys_cli.command("dial")
@click.argument("case_number")
@click.option(
    "--ignore-hours",
    is_flag=True,
    help="Call now even outside calling hours (a demo, or a caller who asked for it).",
)
@click.option("--wait", type=float, default=20.0, show_default=True, help="Seconds to wait.")
def dial_command(case_number: str, ignore_hours: bool, wait: float) -> None:
    """Place the survey call of CASE_NUMBER now, without waiting for its due time."""
    session = db.session()
    found = service.surveys_of(session, case_number)
    if not found:
        raise click.ClickException(
            f"case {case_number} has no survey (it is scheduled by the sweep once the case is "
            "resolved; run `hotline jobs run-due`)"
        )
    survey = found[-1]
    if survey.state is not SurveyState.SCHEDULED:
        raise click.ClickException(
            f"the survey of {case_number} (round {survey.round}) is {survey.state.value}"
            + (f": {survey.note}" if survey.note else "")
        )
    now = schedule.now()
    if not ignore_hours:
        definition = current_app.extensions["hotline.survey"]
        when = next_calling_time(now, definition, settings().tz, stored_holidays(session))
        if when > now:
            raise click.ClickException(
                f"outside calling hours ({definition.hours_start:%H:%M}–"
                f"{definition.hours_end:%H:%M} {settings().timezone}): the survey of "
                f"{case_number} is due at {local(when, settings().tz)}; --ignore-hours calls now"
            )
    survey.due_at, survey.updated_at = now, now
    attempt_no = survey.attempts + 1
    key = dialer.schedule_dial(session, survey.id, attempt_no, now, ignore_hours=ignore_hours)
    session.commit()
    # The job worker places the call (with its Twilio settings); wait here to show the outcome.
    jobs.push(current_app._get_current_object(), [(dialer.DIAL, key)])  # type: ignore[attr-defined]
    click.echo(
        f"survey call of {case_number} queued (attempt {attempt_no}); waiting for the worker…"
    )
    survey_id = survey.id
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        # End the transaction before each look: a transaction keeps reading the snapshot it
        # began with (SQLite's WAL), so it would never see the worker's commit.
        session.rollback()
        attempt = attempts.attempt_row(session, survey_id, attempt_no)
        job = session.scalar(select(Job).where(Job.kind == dialer.DIAL, Job.key == key))
        if attempt is not None and (attempt.call_sid or attempt.error):
            click.echo(
                f"survey call placed: case {case_number}, attempt {attempt_no}, call "
                f"{attempt.call_sid or '-'}, status {attempt.status}"
                + (f" ({attempt.error})" if attempt.error else "")
            )
            return
        if job is not None and job.last_error:
            raise click.ClickException(
                f"Twilio did not take the call ({job.last_error}); the worker tries again"
            )
        time.sleep(0.5)
    raise click.ClickException(
        f"no call placed within {wait:g} s: is the job worker running (`hotline worker`)? "
        "The call goes out when it runs."
    )
