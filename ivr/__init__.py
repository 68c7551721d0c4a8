"""The IVR front door: the first answer a caller hears on the hotline number.

`tree` (config/ivr.yaml) and `classifier` (config/classifier.yaml) are the configuration,
validated at start-up and served by `config`; `engine` decides each step (pure), `twiml` builds
what the caller hears, `service` keeps each call's IVR session (it flushes, never commits),
`views` serves Twilio's webhooks, `hangups` handles a caller's final status, `figures` and `cli`
the operators' side. The packages below hear what the front door heard through core.handover.
"""

from __future__ import annotations

from flask import Flask

import ivr.hangups  # noqa: F401  (handles the call_ended records of a caller's final status)
from core import handover
from ivr import config, service, views
from ivr.cli import classify_command


def init_app(app: Flask) -> None:
    """Load the IVR tree and classifier rules (a bad file stops start-up with its reason), serve
    the front door's webhooks and `hotline classify`, and hand over what it heard."""
    config.init_app(app)
    app.register_blueprint(views.bp)
    app.cli.add_command(classify_command)  # (ivr.cli adds `answer-times` to `roster` itself)
    handover.provide(
        app,
        handover.FrontDoor(
            heard_query=service.BY_CALL,
            heard_of=service.heard_of,
            desk_prompt=config.desk_prompt,
        ),
    )
