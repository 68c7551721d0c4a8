"""Call status callbacks from Twilio."""

from __future__ import annotations

from flask import Blueprint, Response

from calls.webhook import accept_call_webhook
from core import db, webhooks
from routing import durable

bp = webhooks.protect(Blueprint("calls", __name__, url_prefix="/voice"))


def _status_without_db() -> Response:
    durable.accept_call_durably()  # spooled: the status is applied when the database is back
    return Response(status=204)


@bp.post("/status")
@durable.unless_db_down(_status_without_db)
def status() -> Response:
    """statusCallback: move the call forward; duplicates and late arrivals change nothing."""
    accept_call_webhook()
    db.session().commit()
    return Response(status=204)
