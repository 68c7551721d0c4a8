"""Service providers over the API (`/api/v1/providers`); for the center's roles only."""

from __future__ import annotations

from flask import Response, jsonify
from sqlalchemy import select

from api.common import bp, center_only
from core import db
from providers.models import Provider


@bp.get("/providers")
def list_providers() -> Response:
    center_only()
    rows = db.session().scalars(select(Provider).order_by(Provider.code)).all()
    return jsonify(
        items=[
            {
                "code": p.code,
                "name_zh": p.name_zh,
                "name_en": p.name_en,
                "state": p.state.value,
                "categories": list(p.categories or []),
                "contract_start": p.contract_start.isoformat(),
                "contract_end": p.contract_end.isoformat(),
            }
            for p in rows
        ]
    )
