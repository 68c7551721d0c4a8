"""The common first step of every voice webhook: validate, record the call, log the event."""

from __future__ import annotations

from flask import request

from calls.service import CallReport, log_event, record_call
from core import db, webhooks


def accept_call_webhook() -> CallReport:
    """Validate the call parameters, upsert the call and append the webhook to its log.

    Raises BadWebhook (answered 400 with the reason) before anything is written.
    """
    settings = webhooks.settings()
    params = webhooks.params()
    report = CallReport.from_params(params, account_sid=settings.twilio_account_sid)
    session = db.session()
    record_call(session, report, region=settings.default_region)
    log_event(
        session,
        call_sid=report.call_sid,
        route=request.path,
        params=params,
        idempotency_token=webhooks.idempotency_token(),
    )
    return report
