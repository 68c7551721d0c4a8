"""Open311 GeoReport v2 (`/open311/v2`): city apps file and follow service requests."""

from __future__ import annotations

from flask import Flask

from open311 import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
