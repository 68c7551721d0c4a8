"""The common first step of every voice webhook: validate, record the call, log the event."""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import Result, Select
from werkzeug.datastructures import MultiDict

from calls.service import CallReport, record_webhook
from core import db, webhooks


def accept_call_webhook(*, redact: tuple[str, ...] = (), language: str | None = None) -> CallReport:
    """Validate the call parameters, upsert the call and append the webhook to its log.

    Parameters named in `redact` (a PIN typed as Digits) are logged as "***"; `language` is
    stored on a call seen for the first time. Raises BadWebhook (answered 400 with the reason)
    before anything is written.
    """
    return _accept(redact, language, None)[0]


def accept_call_webhook_reading(
    read: Select[Any], *, language: str | None = None
) -> tuple[CallReport, Result[Any]]:
    """`accept_call_webhook`, and the route's own state read in the same round trip: `read` is
    a SELECT built once, parameterised by the call row's columns (calls.service.record_webhook)."""
    report, result = _accept((), language, read)
    assert result is not None  # noqa: S101 (record_webhook answers every read)
    return report, result


def _accept(
    redact: tuple[str, ...], language: str | None, read: Select[Any] | None
) -> tuple[CallReport, Result[Any] | None]:
    settings = webhooks.settings()
    params = webhooks.params()
    report = CallReport.from_params(params, account_sid=settings.twilio_account_sid)
    result = record_webhook(
        db.session(),
        report,
        region=settings.default_region,
        route=request.path,
        params=redacted(params, redact),
        idempotency_token=webhooks.idempotency_token(),
        language=language,
        read=read,
    )
    return report, result


def redacted(params: MultiDict[str, str], names: tuple[str, ...]) -> MultiDict[str, str]:
    """`params` with the values of `names` replaced by "***" (for the log only)."""
    if not names:
        return params
    return MultiDict([(k, "***" if k in names else v) for k, v in params.items(multi=True)])
