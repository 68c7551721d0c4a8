"""The live board: calls in progress and of the last hour, refreshed by the page's script."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify, render_template

from console import board
from console.auth import login_required
from console.display import category_name, local, urgent_callbacks
from console.views.common import bp
from core import db
from core.db import utcnow
from staff.service import CENTER


@bp.get("/board")
@login_required(*CENTER)
def live() -> Any:
    return render_template("console/board.html")


@bp.get("/board.json")
@login_required(*CENTER)
def board_json() -> Any:
    now = utcnow()
    rows = board.recent_calls(db.session(), now, since=now - dt.timedelta(hours=1))
    live_rows = [r for r in rows if r.live]
    return jsonify(
        now=local(now, "%H:%M:%S"),
        live=[_board_row(r) for r in live_rows],
        recent=[_board_row(r) for r in rows if not r.live],
        urgent_callbacks=urgent_callbacks(),
    )


def _board_row(row: board.CallRow) -> dict[str, Any]:
    return {
        "sid": row.call_sid,
        "caller": row.caller,
        "status": row.status,
        "started": local(row.started_at, "%H:%M:%S"),
        "duration": row.duration_s,
        "branch": row.branch or "-",
        "classification": (
            f"{row.kind or '-'} · {category_name(row.category)}" if row.kind else "-"
        ),
        "answered_by": row.answered_by or row.answered_phone or "-",
    }
