"""Inbound calls over the API (`/api/v1/calls`), as the live board sees them (console.board);
for the center's roles only."""

from __future__ import annotations

import datetime as dt

from flask import Response, abort, jsonify

from api.common import bp, center_only, int_arg, page_args, paged
from console import board
from core import db
from core.db import utcnow


@bp.get("/calls")
def list_calls() -> Response:
    center_only()
    limit, offset = page_args()
    hours = int_arg("hours", 24, 1, 24 * 31)
    now = utcnow()
    rows = board.recent_calls(
        db.session(), now, since=now - dt.timedelta(hours=hours), limit=limit + 1, offset=offset
    )
    return paged([r.as_dict() for r in rows], limit, offset)


@bp.get("/calls/<call_sid>")
def get_call(call_sid: str) -> Response:
    center_only()
    rows = board.recent_calls(db.session(), utcnow(), since=utcnow(), call_sid=call_sid[:34])
    if not rows:
        abort(404, description=f"no call {call_sid[:34]!r}")
    return jsonify(rows[0].as_dict())
