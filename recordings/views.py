"""Twilio's recordingStatusCallback: noted, and a download job scheduled in the same commit."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort

from core import db, webhooks
from core.db import UNREACHABLE
from recordings import service
from routing import durable

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
    if not durable.persist("event", durable.webhook_record(call=False)):
        return Response(status=204)  # database down: spooled; Twilio's copy stays until later
    try:
        service.note_recording(db.session(), params, webhooks.settings())
        db.session().commit()
    except UNREACHABLE as exc:
        db.database().mark_down(exc)
        # Answer 5xx so Twilio retries the callback; the event itself was already logged.
        abort(503, description="database unavailable, retry later")
    return Response(status=204)
