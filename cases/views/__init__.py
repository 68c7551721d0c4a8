"""The cases package's webhooks: a service request's intake after the caller's message
(`intake`: /voice/cases/details, /voice/cases/recorded), a caller asking how their case is going
(`progress`: /voice/cases/status) and the units' report-back line (`unitline`: /voice/units/…)."""

from __future__ import annotations

from flask import Flask

from cases.views import intake, progress, unitline

BLUEPRINTS = (intake.bp, progress.bp, unitline.bp)


def init_app(app: Flask) -> None:
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
