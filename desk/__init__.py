"""The call-taker desk (issue 18): a queue for callers who ask for a person, call-takers and
their states, and the offers that put the longest-waiting caller through to the longest-idle
call-taker (desk.service)."""

from __future__ import annotations

from flask import Flask

from desk import views
from desk.cli import desk_cli


def init_app(app: Flask) -> None:
    """The queue's webhooks, its hold audio and `hotline desk`."""
    app.register_blueprint(views.bp)
    app.register_blueprint(views.audio)
    app.cli.add_command(desk_cli)
