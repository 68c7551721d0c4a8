"""The center's figures for a period (`/api/v1/figures?from=…&to=…`), as the console charts
them (console.figures); for the center's roles only."""

from __future__ import annotations

from flask import Response, jsonify

from api.common import bp, center_only
from console.figures import figures_for_request


@bp.get("/figures")
def get_figures() -> Response:
    center_only()
    result, _, _ = figures_for_request()
    return jsonify(result.as_dict())
