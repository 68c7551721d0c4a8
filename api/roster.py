"""Who is on duty now, team by team (`/api/v1/roster/now`); for the center's roles only."""

from __future__ import annotations

from flask import Response, abort, current_app, jsonify

from api.common import bp, center_only
from core.db import utcnow
from routing.roster import on_duty


@bp.get("/roster/now")
def roster_now() -> Response:
    center_only()
    roster = current_app.extensions["hotline.roster"].get()
    if roster is None:
        abort(404, description="no roster imported yet")
    now = utcnow()
    teams = [
        {
            "team": code,
            "name_zh": team.name_zh,
            "name_en": team.name_en,
            "on_duty": [
                {"code": o.code, "name": o.name, "phone": o.phone}
                for o in on_duty(roster, code, now)
            ],
        }
        for code, team in roster.teams.items()
    ]
    return jsonify(at=now.isoformat(), teams=teams)
