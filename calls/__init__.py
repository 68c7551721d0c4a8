"""Calls as Twilio reports them: one row per CallSid, and an append-only log of every webhook."""

from __future__ import annotations

from flask import Flask

from calls import views


def init_app(app: Flask) -> None:
    """Serve `/voice/status`, Twilio's status callback of every call."""
    app.register_blueprint(views.bp)
