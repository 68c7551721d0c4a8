"""The call-taker desk (issue 18): a queue for callers who ask for a person, call-takers and
their states, and the offers that put the longest-waiting caller through to the longest-idle
call-taker (desk.service)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy.orm import Session

from core import jobs
from desk import service, views
from desk.cli import desk_cli


def init_app(app: Flask) -> None:
    """The queue's webhooks, its hold audio, `hotline desk`, and on every sweep the offers
    whose end never came."""
    app.register_blueprint(views.bp)
    app.register_blueprint(views.audio)
    app.cli.add_command(desk_cli)

    def tick(session: Session, now: dt.datetime) -> None:
        service.expire_lost_offers(session, app.extensions["hotline.settings"], now)

    jobs.every_sweep(app, tick)
