"""Callback surveys (回访): scheduled when a case is resolved, answered by the caller.

`definition` reads the survey (config/survey.yaml) and `schedule` says when it may be called;
`service` schedules the surveys of resolved cases and keeps the opt-outs; `dialer` places the
calls (paced jobs), `attempts` follows each attempt to its end, `detection` hangs up on
machines, `urls` are the webhooks' addresses; `outcome` is what a survey's end does to its case;
`views` serves the survey call's webhooks; `report` and `cli` are the operators' side.
"""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy.orm import Session

from core import jobs, voice
from core.calendar import stored_holidays
from surveys import dialer, views
from surveys.cli import surveys_cli
from surveys.outcome import Context, survey_definition
from surveys.service import schedule_surveys


def init_app(app: Flask) -> None:
    """Load the survey definition (validated at start-up), serve the survey call's webhooks and
    `hotline surveys`, and on every sweep: schedule surveys of resolved cases, queue the due ones
    for dialling, and end attempts that lost their call."""
    settings = app.extensions["hotline.settings"]
    survey = survey_definition(settings.survey_file)
    app.extensions["hotline.survey"] = survey
    voice.init_app(app)  # the survey speaks and listens in the hotline's languages
    app.register_blueprint(views.bp)
    app.cli.add_command(surveys_cli)

    def tick(session: Session, now: dt.datetime) -> None:
        schedule_surveys(session, survey, settings.tz, stored_holidays(session), now)
        session.commit()
        dialer.recover_stale(session, Context.of(settings), now)
        session.commit()
        dialer.queue_due(session, survey, now)

    jobs.every_sweep(app, tick)
