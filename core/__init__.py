"""The small shared core: database base and sessions, webhook security, TwiML helpers, phones."""

from __future__ import annotations

from flask import Flask

from core import db, durable, jobs, views
from core.cli import db_cli, jobs_cli, worker_command


def init_app(app: Flask) -> None:
    """The database (sessions per request), the job queue, the durable spool's replay, the probes
    and the SMS status callback, and `hotline db|jobs|worker`. First: every package needs it."""
    settings = app.extensions["hotline.settings"]
    db.Database(settings.database_url, timeout_s=settings.db_timeout_s).init_app(app)
    jobs.init_app(app)
    durable.init_app(app)
    for bp in views.BLUEPRINTS:
        app.register_blueprint(bp)
    for command in (db_cli, jobs_cli, worker_command):
        app.cli.add_command(command)
