"""The hotline number's voice webhook."""

from __future__ import annotations

from flask import Blueprint, Response

from calls.webhook import accept_call_webhook
from core import db, webhooks
from ivr import twiml

bp = webhooks.protect(Blueprint("ivr", __name__, url_prefix="/voice"))


@bp.post("/incoming")
def incoming() -> Response:
    """A call to the hotline number: record it and greet the caller."""
    accept_call_webhook()
    db.session().commit()
    return webhooks.twiml(twiml.greeting())
