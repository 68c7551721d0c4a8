"""Recordings for staff: metadata and media, behind a bearer token (the console's login and
per-role access arrive with issue 7; until then one staff token guards them)."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, abort, jsonify, request, send_file

from core import db, webhooks
from recordings import service
from recordings.models import Recording, RecordingState

log = logging.getLogger(__name__)
bp = Blueprint("recordings_api", __name__, url_prefix="/api/v1/recordings")


@bp.before_request
def _staff_only() -> None:
    expected = webhooks.settings().staff_api_token
    if not expected:
        abort(403, description="staff API access is not configured (STAFF_API_TOKEN)")
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    presented = token.strip().encode("utf-8", "replace")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented, expected.encode()):
        log.warning("recordings API refused: bad or missing token, path=%s", request.path)
        abort(401, description="a valid staff bearer token is required")


def _found(sid: str) -> Recording:
    recording = service.get(db.session(), sid[:40])
    if recording is None:
        abort(404, description=f"no recording {sid[:40]!r}")
    return recording


@bp.get("/<sid>")
def metadata(sid: str) -> Response:
    """What we know of a recording: call, state, size, duration, checksum."""
    r = _found(sid)
    return jsonify(
        recording_sid=r.recording_sid,
        call_sid=r.call_sid,
        state=r.state.value,
        duration_s=r.duration_s,
        size_bytes=r.size_bytes,
        sha256=r.sha256,
        stored_at=r.stored_at.isoformat() if r.stored_at else None,
        last_error=r.last_error,
    )


@bp.get("/<sid>/media")
def media(sid: str) -> Response:
    """The stored audio (409 until our verified copy exists)."""
    r = _found(sid)
    if r.state is not RecordingState.STORED or not r.storage_key:
        abort(409, description=f"recording {r.recording_sid} is not stored yet ({r.state.value})")
    log.info("recording %s served to staff", r.recording_sid)
    stream = service.storage(webhooks.settings()).open(r.storage_key)
    response = send_file(stream, mimetype=r.content_type or "audio/x-wav", etag=r.sha256 or False)
    response.headers["Cache-Control"] = "private, no-store"
    return response
