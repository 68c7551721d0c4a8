"""A call's webhooks as durable records (core.durable): the `call` and `event` kinds.

`call` upserts the call and logs the webhook (as `accept_call_webhook` does), `event` only logs
it. Both are registered here, at import, and replay to the same rows as the immediate write.
`call_ended` records are made here too (the final status of a caller's call), but handled by
the IVR, which alone sees everything that decides whether the caller was served.
"""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from calls.models import CallDirection
from calls.service import CallReport, log_event, params_document, record_webhook
from core import durable, webhooks
from core.db import utcnow
from core.durable import Record, parse_time


def params_from_document(document: dict[str, Any]) -> MultiDict[str, str]:
    """Parameters as logged (a value, or a list where repeated) back into a MultiDict."""
    return MultiDict(
        [(k, x) for k, v in document.items() for x in (v if isinstance(v, list) else [v])]
    )


@durable.handler("call")
def replay_call(session: Session, record: dict[str, Any]) -> None:
    params = params_from_document(record["params"])
    record_webhook(
        session,
        CallReport.from_params(params, account_sid=record["account_sid"]),
        region=record["region"],
        route=record["route"],
        params=params,
        idempotency_token=record.get("token"),
        now=parse_time(record["at"]),
    )


@durable.handler("event")
def replay_event(session: Session, record: dict[str, Any]) -> None:
    log_event(
        session,
        call_sid=record["call_sid"],
        route=record["route"],
        params=params_from_document(record["params"]),
        idempotency_token=record.get("token"),
        now=parse_time(record["at"]),
    )


def call_ended_records(report: CallReport) -> list[Record]:
    """`call_ended` for the final status of a caller's call to us (nothing for other legs)."""
    if (
        not report.status.is_final
        or report.direction is not CallDirection.INBOUND
        or report.parent_call_sid is not None
    ):
        return []
    return [("call_ended", {"call_sid": report.call_sid, "at": utcnow().isoformat()})]


def webhook_record(*, call: bool) -> dict[str, Any]:
    """The current webhook as a record for `persist("call" | "event", …)`."""
    settings = webhooks.settings()
    params = webhooks.params()
    record: dict[str, Any] = {
        "call_sid": params.get("CallSid", "")[:34],
        "route": request.path,
        "params": params_document(params),
        "token": webhooks.idempotency_token(),
        "at": utcnow().isoformat(),
    }
    if call:
        record.update(account_sid=settings.twilio_account_sid, region=settings.default_region)
    return record


def call_report() -> CallReport:
    """The current webhook's call parameters, validated (BadWebhook, a 400, when they are not)."""
    return CallReport.from_params(
        webhooks.params(), account_sid=webhooks.settings().twilio_account_sid
    )


def accept_call_durably(*also: Record) -> CallReport:
    """Validate the call webhook (400 on bad input) and record it, with `also`, durably."""
    report = call_report()
    durable.persist(("call", webhook_record(call=True)), *also)
    return report
