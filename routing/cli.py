"""`hotline roster …`, `hotline spool …` and `hotline callbacks …`: the duty roster, the outage
spool and the callers to call back, for operators. (`hotline roster answer-times` is the IVR's:
its figure starts at the IVR's hand-over, ivr/cli.py.)"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import yaml
from flask import current_app

from core import db, durable
from core.webhooks import settings
from routing import callbacks, store
from routing.roster import ROUTE_KEYS, Roster, RosterError, coverage_gaps, on_duty
from routing.rosterdump import roster_to_dict
from routing.rosterfile import load_roster


@click.group("roster", help="Teams, officers, shifts and the routing table.")
def roster_cli() -> None:
    pass


@roster_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--if-empty", is_flag=True, help="Only if no roster was imported before.")
def import_roster(file: Path, if_empty: bool) -> None:
    """Replace the roster with FILE (YAML, see config/roster.yaml); nothing changes if invalid."""
    session = db.session()
    try:
        roster = load_roster(file, settings().default_region)  # its errors name the file
    except RosterError as exc:
        raise click.ClickException(str(exc)) from None
    if if_empty and store.roster_version(session) is not None:
        click.echo("a roster is already in the database; left as it is")
        return
    try:
        version = store.replace_roster(session, roster, settings().timezone)
    except RosterError as exc:
        raise click.ClickException(f"{file}: {exc}") from None

    session.commit()
    current_app.extensions["hotline.roster"].invalidate()
    click.echo(
        f"imported roster version {version}: {len(roster.teams)} teams, "
        f"{len(roster.officers)} officers, {len(roster.shifts)} shifts"
    )


@roster_cli.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
def export_roster(output: Path | None) -> None:
    """Write the roster in the import format (to stdout, or --output FILE)."""
    roster = store.load_roster(db.session())
    if roster is None:
        raise click.ClickException("no roster imported yet (hotline roster import FILE)")
    text = yaml.safe_dump(roster_to_dict(roster), allow_unicode=True, sort_keys=False)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@roster_cli.command("now")
@click.option("--team", default=None, help="Only this team (its code).")
@click.option("--at", "at_text", default=None, help="Local time, e.g. '2026-12-31 23:30'.")
def now(team: str | None, at_text: str | None) -> None:
    """Who is on duty now (or --at a local time), per team."""
    roster = _roster()
    tz = ZoneInfo(roster.timezone)
    at = _local_time(at_text, tz)
    if team is not None and team not in roster.teams:
        raise click.ClickException(f"unknown team {team!r} (teams: {', '.join(roster.teams)})")
    click.echo(f"on duty at {at:%Y-%m-%d %H:%M %Z}:")
    for code, t in roster.teams.items():
        if team is not None and code != team:
            continue
        people = on_duty(roster, code, at)
        names = ", ".join(f"{o.name} ({o.code}, {o.phone})" for o in people) or "NOBODY"
        click.echo(f"  {t.name_zh} / {t.name_en} [{code}]: {names}")


@roster_cli.command("check")
@click.option("--days", default=14, show_default=True, help="How far ahead to look.")
def check(days: int) -> None:
    """Report moments when an emergency route (or the desk) has nobody on duty; exit 1 if any."""
    roster = _roster()
    tz = ZoneInfo(roster.timezone)
    start = dt.datetime.now(tz).replace(second=0, microsecond=0)
    gaps = coverage_gaps(roster, start, start + dt.timedelta(days=days))
    if not gaps:
        click.echo(f"every route ({', '.join(ROUTE_KEYS)}) is covered for the next {days} days")
        return
    for gap in gaps:
        click.echo(f"GAP {gap.route}: {gap.start:%Y-%m-%d %H:%M} – {gap.end:%Y-%m-%d %H:%M %Z}")
    sys.exit(1)


@roster_cli.command("available")
@click.argument("officer")
@click.option("--no", "unavailable", is_flag=True, help="Mark the officer unavailable instead.")
def available(officer: str, unavailable: bool) -> None:
    """Mark OFFICER (by code) available again, or --no for unavailable (sick, on leave)."""
    session = db.session()
    if not store.set_available(session, officer, not unavailable):
        raise click.ClickException(f"unknown officer {officer!r}")
    session.commit()
    current_app.extensions["hotline.roster"].invalidate()
    click.echo(f"{officer} is {'unavailable' if unavailable else 'available'}")


def _roster() -> Roster:
    roster: Roster | None = current_app.extensions["hotline.roster"].get()
    if roster is None:
        raise click.ClickException("no roster imported yet (hotline roster import FILE)")
    return roster


def _local_time(text: str | None, tz: ZoneInfo) -> dt.datetime:
    if text is None:
        return dt.datetime.now(tz)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time like '2026-12-31 23:30'") from None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


@click.group("spool", help="What was written to disk while the database was down.")
def spool_cli() -> None:
    pass


@spool_cli.command("status")
def spool_status() -> None:
    """List spool files waiting for replay."""
    files = durable.spool().pending()
    click.echo(f"{len(files)} spool file(s) pending in {durable.spool().directory}")
    for path in files:
        click.echo(f"  {path.name}: {sum(1 for _ in path.open(encoding='utf-8'))} records")


@spool_cli.command("replay")
def spool_replay() -> None:
    """Write everything spooled into the database now."""
    count = durable.spool().replay(db.database().sessions, durable.HANDLERS)
    click.echo(f"replayed {count} records")


@click.group("callbacks", help="Callers to call back: abandoned emergencies and IVR hang-ups.")
def callbacks_cli() -> None:
    pass


_KIND_NAMES = {
    "abandoned_bridge": "hung up while ringing",
    "abandoned_ivr": "hung up in IVR",
    "unanswered": "nobody answered",
}


@callbacks_cli.command("list")
@click.option("--closed", is_flag=True, help="The most recently closed tasks instead.")
def list_callbacks(closed: bool) -> None:
    """Open call-back tasks, most urgent first, then oldest first (full numbers: call them)."""
    session = db.session()
    tasks = callbacks.closed_callbacks(session) if closed else callbacks.open_callbacks(session)
    if not tasks:
        click.echo("no closed call-back tasks" if closed else "no open call-back tasks")
        return
    tz = settings().tz
    for task in tasks:
        state = f"{task.outcome}" if task.closed_at else f"{task.attempts} attempt(s)"
        click.echo(
            f"{task.id:>6}  P{task.priority}  {task.created_at.astimezone(tz):%m-%d %H:%M}  "
            f"{_KIND_NAMES.get(task.kind.value, task.kind.value):<21} {task.route or '-':<9} "
            f"{task.caller_number or 'withheld':<16} {state}"
            + (f"  taken by {task.claimed_by}" if task.claimed_by else "")
        )


@callbacks_cli.command("done")
@click.argument("task_id", type=int)
@click.option(
    "--outcome", required=True, type=click.Choice(callbacks.CALLBACK_OUTCOMES), help="How it went."
)
@click.option("--note", default="", help="What was said or done.")
@click.option("--by", "who", default="cli", show_default=True, help="Who called back.")
def callback_done(task_id: int, outcome: str, note: str, who: str) -> None:
    """Record a call-back of TASK_ID; no_answer keeps it open until the third attempt."""
    session = db.session()
    try:
        task = callbacks.record_callback(session, task_id, outcome, who=who, note=note[:400])
    except callbacks.CallbackError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    if task.closed_at is None:
        left = callbacks.MAX_CALLBACK_ATTEMPTS - task.attempts
        click.echo(f"task {task.id}: {outcome} (attempt {task.attempts}); open, {left} more to go")
    else:
        click.echo(f"task {task.id}: closed, {task.outcome} after {task.attempts} attempt(s)")
