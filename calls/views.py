"""Call status callbacks from Twilio."""

from __future__ import annotations

from flask import Blueprint, Response

from calls.webhook import accept_call_webhook
from core import db, webhooks

bp = webhooks.protect(Blueprint("calls", __name__, url_prefix="/voice"))


@bp.post("/status")
def status() -> Response:
    """statusCallback: move the call forward; duplicates and late arrivals change nothing."""
    accept_call_webhook()
    db.session().commit()
    return Response(status=204)
