"""Call status callbacks from Twilio."""

from __future__ import annotations

from flask import Blueprint, Response

from calls.webhook import accept_call_webhook
from core import db, webhooks
from routing import durable

bp = webhooks.protect(Blueprint("calls", __name__, url_prefix="/voice"))


def _status_without_db() -> Response:
    report = durable.call_report()
    # Spooled: the status, and what the call's end closes, are applied when the database is back.
    durable.persist(
        ("call", durable.webhook_record(call=True)), *durable.call_ended_records(report)
    )
    return Response(status=204)


@bp.post("/status")
@durable.unless_db_down(_status_without_db)
def status() -> Response:
    """statusCallback: move the call forward; at its end, close what it left open.

    The end of a caller's call closes bridge attempts still ringing and notes a caller nobody
    served (routing.store.call_ended: two statements). Duplicates and late arrivals change
    nothing.
    """
    report = accept_call_webhook()
    session = db.session()
    durable.apply_after_spooled(session, *durable.call_ended_records(report))
    session.commit()
    return Response(status=204)
