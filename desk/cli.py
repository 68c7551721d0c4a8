"""`hotline desk`: the call-takers, their states, and who waits in the queue."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from core import db, times
from core.webhooks import settings
from desk import service
from desk.models import QueueEntry, QueueResult, TakerState

desk_cli = click.Group("desk", help="The call-taker desk: call-takers and the queue.")


@desk_cli.command("state")
@click.argument("username")
@click.argument("state", type=click.Choice([s.value for s in TakerState]))
@click.option("--phone", help="The desk phone (E.164 or sip: URI), to sign in the first time.")
@with_appcontext
def state_command(username: str, state: str, phone: str | None) -> None:
    """Set a call-taker's state (available, break, logged_out…)."""
    session = db.session()
    try:
        found = service.set_state(session, username, state, phone=phone)
    except service.DeskError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"{found.username}: {found.state.value} (phone {found.phone})")


@desk_cli.command("status")
@with_appcontext
def status_command() -> None:
    """The call-takers and the callers waiting now."""
    session = db.session()
    tz = settings().tz
    click.echo(f"times in {settings().timezone}")
    for taker in service.takers(session):
        since = times.local(taker.state_since, tz)
        click.echo(
            f"  {taker.username:<16} {taker.state.value:<11} since {since}  "
            f"missed {taker.missed}  {taker.phone}"
        )
    waiting = session.scalars(
        select(QueueEntry)
        .where(QueueEntry.result == QueueResult.WAITING)
        .order_by(QueueEntry.queue, QueueEntry.enqueued_at)
    ).all()
    click.echo(f"waiting: {len(waiting)}")
    for entry in waiting:
        click.echo(
            f"  {entry.queue:<12} since {times.local(entry.enqueued_at, tz)}  {entry.call_sid}"
        )
