"""`hotline cases …`: look at service cases and move them through the closed loop.

Each command that changes a case commits and prints the case's new state; a refused change
(unknown case or unit, an action the state does not allow, a missing note) prints why and exits
with status 1, changing nothing.

Every time printed is in the hotline's zone (TIMEZONE), and the output says which once; a
deadline is written as the local day it ends ("4 Dec, end of day").
"""

from __future__ import annotations

import datetime as dt
import getpass

import click
from flask import current_app

from cases import queries, service, supervision
from cases.models import Case
from cases.units import hash_pin, units_for_app
from cases.workflow import OPEN_STATES, Action, CaseError, CaseState
from core import db, sms
from core.calendar import stored_holidays
from core.times import deadline, local
from core.webhooks import settings
from providers.service import refusal

_ACTOR_HELP = "Who is acting, for the audit log (default: cli:<login name>)."


@click.group("cases", help="Service cases: list, show, and move them through the closed loop.")
def cases_cli() -> None:
    pass


@cases_cli.command("list")
@click.option("--state", type=click.Choice([s.value for s in CaseState]), default=None)
@click.option("--unit", default=None, help="Only cases with this unit (its code).")
@click.option("--overdue", is_flag=True, help="Only open cases past their deadline.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def list_command(state: str | None, unit: str | None, overdue: bool, limit: int) -> None:
    """Cases, newest first."""
    now = db.utcnow()
    only_overdue = True if overdue else None
    cases = queries.list_cases(
        db.session(), state=state, unit=unit, overdue=only_overdue, limit=limit, now=now
    )
    if not cases:
        click.echo("no cases")
        return
    tz = settings().tz
    click.echo(f"times in {settings().timezone}")
    for case in cases:
        late = "  OVERDUE" if _overdue(case, now) else ""
        click.echo(
            f"{case.number}  {case.state.value:<15} {case.kind.value:<12} "
            f"{case.category:<18} {case.unit_code or '-':<22} "
            f"due {_deadline(case.due_at, tz, now)}{late}"
        )
    click.echo(f"{len(cases)} case(s)")


@cases_cli.command("show")
@click.argument("number")
def show(number: str) -> None:
    """A case's fields and its timeline."""
    session = db.session()
    case = _get(number)
    now = db.utcnow()
    tz = settings().tz
    caller = case.caller_number or f"unknown (raw {case.caller_raw!r})"
    lines = [
        f"{case.number}  {case.state.value}  ({case.kind.value}, {case.category})",
        f"  times in:    {settings().timezone}",
        f"  caller:      {caller}{'  [confidential]' if case.confidential else ''}",
        f"  language:    {case.language}",
        f"  source:      {case.source.value}"
        + (f", call {case.call_sid}" if case.call_sid else "")
        + (f", recording {case.recording_sid}" if case.recording_sid else ""),
        f"  unit:        {case.unit_code or '-'}",
        f"  created:     {local(case.created_at, tz)}   updated: {local(case.updated_at, tz)}",
        f"  due:         {_deadline(case.due_at, tz, now)}"
        f"{'  OVERDUE' if _overdue(case, now) else ''}   remind: {local(case.remind_at, tz)}",
    ]
    for label, moment in (
        ("reminded", case.reminded_at),
        ("escalated", case.escalated_at),
        ("resolved", case.resolved_at),
        ("closed", case.closed_at),
    ):
        if moment is not None:
            lines.append(f"  {label + ':':<12} {local(moment, tz)}")
    if case.reopen_count:
        lines.append(f"  reopened:    {case.reopen_count} time(s)")
    lines.append(f"  transcript:  {case.transcript or '-'}")
    if case.feedback:
        lines.append(f"  feedback:    {case.feedback}")
    lines.append("timeline:")
    for event in queries.timeline(session, case):
        states = f"{event.from_state.value if event.from_state else '':>15} → "
        states += event.to_state.value
        extra = "  ".join(
            f"{k}={_data_value(k, v, tz, now)}" for k, v in event.data.items() if v is not None
        )
        line = f"  {local(event.at, tz)}  {event.action:<15}{states:<35} by {event.actor}"
        if extra:
            line += f"  [{extra}]"
        if event.note:
            line += f"  “{event.note}”"
        lines.append(line)
    texts = sms.messages_of_case(session, case.number)
    if texts:
        lines.append("texts:")
    for text in texts:
        # What became of each text (Twilio's delivery report), so nobody assumes it arrived.
        problem = f"  {text.error}" if text.error else ""
        code = f" (error {text.error_code})" if text.error_code else ""
        purpose = text.key.partition(":")[0]
        lines.append(
            f"  {local(text.created_at, tz)}  {purpose:<15} to {text.to_number:<16}"
            f" {text.status}{code}{problem}"
        )
    click.echo("\n".join(lines))


@cases_cli.command("dispatch")
@click.argument("number")
@click.argument("unit")
@click.option("--note", default="", help="Instructions for the unit.")
@click.option("--actor", default=None, help=_ACTOR_HELP)
def dispatch(number: str, unit: str, note: str, actor: str | None) -> None:
    """Send case NUMBER to UNIT (转办), or to another unit (re-dispatch)."""
    _act(number, Action.DISPATCH, note=note, unit=unit, actor=actor)


@cases_cli.command("recategorize")
@click.argument("number")
@click.argument("category")
@click.option("--note", default="", help="Why the category changes.")
@click.option("--actor", default=None, help=_ACTOR_HELP)
def recategorize(number: str, category: str, note: str, actor: str | None) -> None:
    """Correct the category the classifier gave case NUMBER (then dispatch it again if needed)."""
    session = db.session()
    try:
        case = service.recategorize(
            session, number, category, actor=actor or _default_actor(), note=note
        )
    except CaseError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"{case.number}: category {case.category}")


@cases_cli.command("handle")
@click.argument("number")
@click.option("--note", default="", help="What the center did or answered.")
@click.option("--actor", default=None, help=_ACTOR_HELP)
def handle(number: str, note: str, actor: str | None) -> None:
    """The center handles case NUMBER itself (即办); resolve it afterwards."""
    _act(number, Action.HANDLE_ON_SPOT, note=note, actor=actor)


@cases_cli.command("accept")
@click.argument("number")
@click.option("--note", default="")
@click.option("--actor", default=None, help=_ACTOR_HELP)
def accept(number: str, note: str, actor: str | None) -> None:
    """The unit took case NUMBER."""
    _act(number, Action.ACCEPT, note=note, actor=actor)


@cases_cli.command("start")
@click.argument("number")
@click.option("--note", default="")
@click.option("--actor", default=None, help=_ACTOR_HELP)
def start(number: str, note: str, actor: str | None) -> None:
    """The unit is working on case NUMBER."""
    _act(number, Action.START, note=note, actor=actor)


@cases_cli.command("resolve")
@click.argument("number")
@click.option("--note", required=True, help="The unit's feedback: what was done (反馈).")
@click.option("--actor", default=None, help=_ACTOR_HELP)
def resolve(number: str, note: str, actor: str | None) -> None:
    """Case NUMBER is resolved; the callback (回访) comes next."""
    _act(number, Action.RESOLVE, note=note, actor=actor)


@cases_cli.command("close")
@click.argument("number")
@click.option("--note", default="", help="e.g. the callback's outcome.")
@click.option("--actor", default=None, help=_ACTOR_HELP)
def close(number: str, note: str, actor: str | None) -> None:
    """Close resolved case NUMBER (办结)."""
    _act(number, Action.CLOSE, note=note, actor=actor)


@cases_cli.command("reopen")
@click.argument("number")
@click.option("--note", required=True, help="Why the caller is not satisfied (重办).")
@click.option("--actor", default=None, help=_ACTOR_HELP)
def reopen(number: str, note: str, actor: str | None) -> None:
    """Reopen case NUMBER: its time limit starts again."""
    _act(number, Action.REOPEN, note=note, actor=actor)


@cases_cli.command("escalate")
@click.argument("number")
@click.option("--note", default="")
@click.option("--actor", default=None, help=_ACTOR_HELP)
def escalate(number: str, note: str, actor: str | None) -> None:
    """Escalate open case NUMBER to supervision (督办); its state stays."""
    _act(number, Action.ESCALATE, note=note, actor=actor)


@cases_cli.command("pin-hash")
def pin_hash() -> None:
    """Ask for a unit's PIN (hidden) and print the `pin_hash` for config/units.yaml."""
    pin = click.prompt("PIN (4 to 8 digits)", hide_input=True, confirmation_prompt=True)
    try:
        click.echo(str(hash_pin(pin.strip())))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _act(
    number: str, action: Action, *, note: str, actor: str | None, unit: str | None = None
) -> None:
    session = db.session()
    units = units_for_app(current_app) if action is Action.DISPATCH else None
    if action is Action.DISPATCH and unit is not None:
        refused = refusal(session, unit, dt.datetime.now(dt.UTC), settings().tz)
        if refused is not None:
            raise click.ClickException(f"cannot dispatch {number} to {unit}: {refused}")
    holidays = stored_holidays(session) if action is Action.REOPEN else None
    try:
        case = service.apply(
            session,
            number,
            action,
            actor=actor or _default_actor(),
            note=note,
            unit_code=unit,
            units=units,
            tz=settings().tz,
            holidays=holidays,
        )
    except CaseError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    if action is Action.DISPATCH and units is not None:
        supervision.notify_dispatched(session, units, case, settings().tz)
    session.commit()
    detail = ""
    target = units.get(case.unit_code) if units is not None and case.unit_code else None
    if action is Action.DISPATCH and target is not None:
        detail = f" to {target.code} {target.name_zh} (duty {target.duty_contact})"
    elif action is Action.REOPEN:
        due = _deadline(case.due_at, settings().tz, db.utcnow())
        detail = f", due {due} ({settings().timezone}; reopened {case.reopen_count} time(s))"
    click.echo(f"{case.number}: {case.state.value}{detail}")


def _get(number: str) -> Case:
    try:
        return queries.get_case(db.session(), number)
    except CaseError as exc:
        raise click.ClickException(str(exc)) from None


def _overdue(case: Case, now: dt.datetime) -> bool:
    return case.state in OPEN_STATES and case.due_at <= now


def _deadline(moment: dt.datetime, tz: dt.tzinfo, now: dt.datetime) -> str:
    """A case's deadline as the local day it ends: "4 Dec, end of day", "4 Dec 18:30"."""
    return deadline(moment, tz, "en", now=now)


#: Keys of an event's data that hold a deadline (the others ending in `_at` are moments).
_DEADLINE_KEYS = frozenset({"due_at", "previous_due_at"})


def _data_value(key: str, value: object, tz: dt.tzinfo, now: dt.datetime) -> object:
    """An event's data value as printed: a moment it stores (ISO 8601, in UTC) in local time."""
    if not (key.endswith("_at") and isinstance(value, str)):
        return value
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return _deadline(moment, tz, now) if key in _DEADLINE_KEYS else local(moment, tz)


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (containers)
        return "cli"
