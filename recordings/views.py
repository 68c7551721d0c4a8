"""Twilio's recordingStatusCallback: noted, and a download job scheduled in the same commit."""

from __future__ import annotations

from flask import Blueprint, Response

from calls.durable import webhook_record
from core import durable, webhooks
from recordings import service

bp = webhooks.protect(Blueprint("recordings", __name__, url_prefix="/voice"))


@bp.post("/recording-status")
def recording_status() -> Response:
    """A recording is ready (or failed): append it to the call's log."""
    # BadWebhook (400, with the reason) before anything is written.
    service.RecordingReport.from_params(webhooks.params(), webhooks.settings())
    # The event and the recording row (with its download job) are one record: replayed
    # together if the database is down now, so no recording is lost.
    durable.persist((service.RECORDING, webhook_record(call=False)))
    return Response(status=204)
