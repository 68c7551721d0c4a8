"""Twilio's message status callback: what became of a text the hotline sent."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from core import db, sms, webhooks

log = logging.getLogger(__name__)
bp = webhooks.protect(Blueprint("sms", __name__, url_prefix="/voice"))


@bp.post("/sms-status")
def sms_status() -> Response:
    """StatusCallback of messages.create: move the message's status forward (200)."""
    report = sms.StatusReport.from_params(
        webhooks.params(), account_sid=webhooks.settings().twilio_account_sid
    )  # BadWebhook (400) before anything is written
    raw = request.args.get("m", "")
    message_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
    session = db.session()
    try:
        sms.record_status(session, report, message_id)
        session.commit()
    except Exception:
        # Nobody is on the line: a 503 lets Twilio deliver the report again later.
        session.rollback()
        log.exception("SMS status %s for %s not recorded", report.status, report.message_sid)
        return Response(status=503)
    return Response(status=200)
