"""Service cases: the closed loop 受理 → 即办/转办 → 督办 → 反馈 → 回访 → 办结 (and 重办).

`workflow` (states and legal transitions) and `deadlines` (time limits in working days) are
pure; `units` reads the units that receive cases from `config/units.yaml`; `models` holds the
tables, `service` the writes (they flush, never commit), `cli` the operator commands.
`queries` are the reads, `numbers` the case numbers, `intake` what a new case does next,
`supervision` the deadline sweep, `progress` what a caller hears of their case; `views` serves
the webhooks (intake, progress, the units' report-back line).
"""

from __future__ import annotations

from flask import Flask

from cases import supervision, views
from cases.cli import cases_cli
from cases.units import units_for_app
from core import voice


def init_app(app: Flask) -> None:
    """Load the units (a bad file stops start-up), serve the cases' webhooks and `hotline cases`,
    and supervise deadlines on every sweep."""
    units_for_app(app)
    voice.init_app(app)  # the hotline's languages: the desk's words are said in them
    views.init_app(app)
    supervision.init_app(app)
    app.cli.add_command(cases_cli)
