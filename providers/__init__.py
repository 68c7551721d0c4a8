"""Contracted market service providers (市场服务商): locksmiths, plumbers, appliance repair, movers.

Admitted by contract (config/providers.yaml), dispatched by the center at agreed prices at least
15% below market, suspended automatically after three complaints within a rolling year, and
assessed at year end on volume and quality (`providers.report.year_report`).
"""

from __future__ import annotations

from flask import Flask

from providers.cli import providers_cli


def init_app(app: Flask) -> None:
    app.cli.add_command(providers_cli)
