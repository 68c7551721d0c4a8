"""Duty rosters and bridging emergency callers to on-duty officers (issue 4)."""

from __future__ import annotations

from flask import Flask

from core import db
from routing import views
from routing.cache import RosterCache
from routing.cli import callbacks_cli, roster_cli, spool_cli


def init_app(app: Flask) -> None:
    """The roster cache (the database's roster, or its snapshot when the database is down), the
    bridge's webhooks, and `hotline roster|spool|callbacks`."""
    settings = app.extensions["hotline.settings"]
    app.extensions["hotline.roster"] = RosterCache(
        db.database(app), settings.spool_dir / "roster-snapshot.yaml", settings.default_region
    )
    app.register_blueprint(views.bp)
    for command in (roster_cli, spool_cli, callbacks_cli):
        app.cli.add_command(command)
