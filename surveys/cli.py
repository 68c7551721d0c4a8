"""`hotline surveys …`: opt-outs and the survey schedule."""

from __future__ import annotations

import click
from sqlalchemy import select

from core import db
from core.phone import InvalidPhoneNumber, to_e164
from core.webhooks import settings
from surveys import service
from surveys.models import CaseSurvey, SurveyState


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
    for s in rows:
        due = s.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{s.case_number}  round {s.round}  {s.state.value:<11} due {due}  {s.note}")
    click.echo(f"{len(rows)} survey(s)")
