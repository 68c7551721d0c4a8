"""Recordings over the API: metadata and the verified audio (`/api/v1/recordings`).

A unit contact's token reaches only the recordings of the unit's cases.
"""

from __future__ import annotations

from flask import Response, abort, jsonify
from sqlalchemy import select

from api.common import bp, center_or_unit_case
from cases.models import Case
from core import db, webhooks
from recordings import service
from recordings.models import Recording


def _found(sid: str) -> Recording:
    recording = service.get(db.session(), sid[:40])
    if recording is None:
        abort(404, description=f"no recording {sid[:40]!r}")
    case = db.session().scalar(select(Case).where(Case.recording_sid == recording.recording_sid))
    center_or_unit_case(case)
    return recording


@bp.get("/recordings/<sid>")
def recording_metadata(sid: str) -> Response:
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


@bp.get("/recordings/<sid>/media")
def recording_media(sid: str) -> Response:
    """The stored audio (409 until our verified copy exists)."""
    r = _found(sid)
    return service.media_response(db.session(), r.recording_sid, webhooks.settings())
