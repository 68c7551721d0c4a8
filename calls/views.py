"""Call status callbacks from Twilio."""

from __future__ import annotations

from flask import Blueprint, Response

from calls.durable import call_ended_records, call_report, webhook_record
from calls.webhook import accept_call_webhook
from core import db, durable, webhooks

bp = webhooks.protect(Blueprint("calls", __name__, url_prefix="/voice"))


def _status_without_db() -> Response:
    report = call_report()
    # Spooled: the status, and what the call's end closes, are applied when the database is back.
    durable.persist(("call", webhook_record(call=True)), *call_ended_records(report))
    return Response(status=204)


@bp.post("/status")
@durable.unless_db_down(_status_without_db)
def status() -> Response:
    """statusCallback: move the call forward; at its end, close what it left open.

    The end of a caller's call closes bridge attempts still ringing and notes a caller nobody
    served (the `call_ended` record, handled by the IVR: ivr.hangups, two statements).
    Duplicates and late arrivals change nothing.
    """
    report = accept_call_webhook()
    session = db.session()
    durable.apply_after_spooled(session, *call_ended_records(report))
    session.commit()
    return Response(status=204)
