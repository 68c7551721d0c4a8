"""Downloading, storing and serving call recordings (issue 5)."""

from __future__ import annotations

from flask import Flask

from recordings import views


def init_app(app: Flask) -> None:
    """Serve `/voice/recording-status` (its service registers the download jobs)."""
    app.register_blueprint(views.bp)
