"""The core's routes: liveness and readiness probes (unauthenticated, tiny, no secrets) and
Twilio's message status callback (`/voice/sms-status`: what became of a text we sent)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core import db, sms, webhooks
from core.inputs import digits_or_none

log = logging.getLogger(__name__)
health = Blueprint("health", __name__)
messages = webhooks.protect(Blueprint("sms", __name__, url_prefix="/voice"))
BLUEPRINTS = (health, messages)


@health.get("/healthz")
def healthz() -> Response:
    """The process is up and serving requests."""
    return jsonify(status="ok")


@health.get("/readyz")
def readyz() -> tuple[Response, int]:
    """The database answers; a load balancer stops sending traffic when it does not."""
    try:
        with db.database().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("not ready: database unreachable (%s)", type(exc).__name__)
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200


@messages.post("/sms-status")
def sms_status() -> Response:
    """StatusCallback of messages.create: move the message's status forward (200)."""
    report = sms.StatusReport.from_params(
        webhooks.params(), account_sid=webhooks.settings().twilio_account_sid
    )  # BadWebhook (400) before anything is written
    # Our own message id, from the callback URL; a garbled one is ignored (the SID still names it).
    message_id = digits_or_none(request.args.get("m"), 18)
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
