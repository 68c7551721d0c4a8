"""The figures page and its CSV export, for the period the request asks for (console.figures)."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, render_template

from console.auth import login_required
from console.display import category_name, staff_name, unit_name
from console.figures import figures_for_request
from console.views.common import bp
from staff.service import CENTER


@bp.get("/figures")
@login_required(*CENTER)
def figures_page() -> Any:
    result, first, last = figures_for_request()
    return render_template(
        "console/figures.html",
        f=result,
        first=first,
        last=last,
        named_categories=[(category_name(c), n) for c, n in result.cases_by_category],
        named_units=[(unit_name(u), n) for u, n in result.cases_by_unit],
        named_takers=[(staff_name(k.username), k.answered) for k in result.desk.per_taker],
    )


@bp.get("/figures.csv")
@login_required(*CENTER)
def figures_csv() -> Response:
    result, first, last = figures_for_request()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["figure", "key", "value"])
    writer.writerows(result.csv_rows())
    return Response(
        "\ufeff" + buffer.getvalue(),  # a BOM, so that spreadsheet programs read UTF-8
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=figures-{first}-{last}.csv"},
    )
