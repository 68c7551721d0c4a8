"""What the console's pages show besides their data: local times, the names of categories and
bridge routes, the urgent call-back count in the header, the units, and inline SVG bars.

The templates reach these through the blueprint's context processor (console.views.common).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app

from cases.units import Units
from console.auth import console_user
from console.i18n import language, t
from core import db
from core.webhooks import settings
from ivr import config as ivr_config
from routing import callbacks
from staff.service import CENTER


def local(value: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """`value` in the hotline's time zone ("-" if none)."""
    return value.astimezone(settings().tz).strftime(fmt) if value else "-"


def category_name(category: str | None) -> str:
    """A service or emergency category's name in the page's language ("-" if none)."""
    if not category:
        return "-"
    return ivr_config.config().rules.name(category, language())


def person_name(first: str | None, last: str | None) -> str:
    """A filer's name as the page's language writes it: family name first in Chinese (李明),
    given name first in English (Ming Li); "" if neither is known."""
    parts = [p for p in ((last, first) if language() == "zh" else (first, last)) if p]
    return ("" if language() == "zh" else " ").join(parts)


def categories() -> list[str]:
    """Every category the classifier knows, in its order."""
    return list(ivr_config.config().rules.categories)


def route_name(route: str | None) -> str:
    """A bridge route's name: an emergency category's, the desk's, or a doubtful caller's."""
    if route in ("desk", "doubt"):
        return t(f"route.{route}")
    return category_name(route)


def urgent_callbacks() -> int:
    """Open priority-0 call-back tasks (abandoned emergencies), for the center's roles only."""
    user = console_user()
    if user is None or user.role not in CENTER:
        return 0
    return callbacks.open_callback_count(db.session(), priority=0)


def units() -> Units:
    found: Units = current_app.extensions["hotline.units"]
    return found


def bars(values: list[tuple[str, float]], width: int = 640) -> dict[str, Any]:
    """Bars for an inline SVG chart (no script, no library)."""
    top = max((v for _, v in values), default=0) or 1
    return {
        "rows": [(label, value, int(value / top * (width - 220))) for label, value in values],
        "height": 22 * len(values) + 4,
        "width": width,
    }
