"""Twilio's recordingStatusCallback: noted, and a download job scheduled in the same commit."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort

from calls.durable import webhook_record
from core import durable, webhooks
from recordings import service

bp = webhooks.protect(Blueprint("recordings", __name__, url_prefix="/voice"))
RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")


@bp.post("/recording-status")
def recording_status() -> Response:
    """A recording is ready (or failed): append it to the call's log."""
    params = webhooks.params()
    if not params.get("CallSid", "").startswith("CA") or len(params.get("CallSid", "")) != 34:
        abort(400, description="CallSid: expected 'CA' followed by 32 hex digits")
    if not RECORDING_SID.match(params.get("RecordingSid", "")):
        abort(400, description="RecordingSid: expected 'RE' followed by 32 hex digits")
    # The event and the recording row (with its download job) are one record: replayed
    # together if the database is down now, so no recording is lost.
    durable.persist((service.RECORDING, webhook_record(call=False)))
    return Response(status=204)
