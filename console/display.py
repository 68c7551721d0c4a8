"""What the console's pages show besides their data: local times and deadlines, the names of
categories, bridge routes, units, teams, officers, roles and actors in the page's language, the
urgent call-back count in the header, and inline SVG bars. Codes (`city_management`, `P001`,
`cli:root`) never reach a page: a code without a name is shown as it is, marked as a code.

The templates reach these through the blueprint's context processor (console.views.common).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app, g
from markupsafe import Markup
from sqlalchemy import select

from cases.models import CaseEvent
from cases.units import Units
from console.auth import console_user
from console.i18n import TEXT as TEXT_KEYS
from console.i18n import language, t
from core import db, times
from core.webhooks import settings
from ivr import config as ivr_config
from routing import callbacks
from routing.bridge import DESK
from routing.roster import Roster
from staff.models import StaffUser
from staff.service import CENTER


def local(value: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """`value` in the hotline's time zone ("-" if none)."""
    return times.local(value, settings().tz, fmt)


def deadline(value: dt.datetime | None) -> str:
    """A deadline as the local day it ends, in the page's language ("12月4日 24:00")."""
    return times.deadline(value, settings().tz, language())


def zone() -> str:
    """The time zone every time on the console is in, said once on each page."""
    name = settings().timezone
    return t("zone").format(zone=t(f"zone.{name}") if f"zone.{name}" in TEXT_KEYS else name)


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
    if route in (DESK, "doubt"):
        return t(f"route.{route}")
    return category_name(route)


def kind_name(kind: str | None, branch: str | None = None) -> str:
    """How the front door classified a call or case: emergency or service request; a caller
    who pressed 1 was never classified but is an emergency all the same."""
    if kind:
        return t(f"kind.{kind}")
    if branch in ("emergency", "service"):
        return t(f"kind.{branch}_key")
    return "-"


def classification(kind: str | None, category: str | None, branch: str | None) -> str:
    """A call's classification as one line: kind · category (or route), by name."""
    if not kind and not branch:
        return "-"
    what = kind_name(kind, branch)
    if category:
        return f"{what} · {category_name(category)}"
    return what


def branch_name(branch: str | None) -> str:
    """The IVR branch a call took, by name ("-" if none yet)."""
    return t(f"branch.{branch}") if branch else "-"


def unit_name(code: str | None) -> str:
    """A unit's name in the page's language ("-" if none; the code if it is unknown)."""
    if not code:
        return "-"
    unit = units().get(code)
    if unit is None:
        return code
    return unit.name_zh if language() == "zh" else unit.name_en


def _roster() -> Roster | None:
    roster: Roster | None = current_app.extensions["hotline.roster"].get()
    return roster


def team_name(code: str | None) -> str:
    """A roster team's name in the page's language."""
    roster = _roster()
    team = roster.teams.get(code or "") if roster else None
    if team is None:
        return code or "-"
    return team.name_zh if language() == "zh" else team.name_en


def officer_name(code: str | None) -> str:
    """An officer's name from the roster (their code only if the roster no longer has them)."""
    roster = _roster()
    officer = roster.officers.get(code or "") if roster else None
    return officer.name if officer else (code or "-")


def role_name(role: str) -> str:
    return t(f"role.{role}")


def actor_label(actor: str) -> Markup:
    """Who did something to a case, as a person reads it: 来电人, 系统, 回访, a unit's name,
    "命令行（root）"… (the stored actor is `phone`, `system`, `survey`, `unit:<code>`,
    `cli:<login>`, `console:<user>`, `api:<user>`, `open311:<app>`, `phone:<number>`). A login
    or a number is a name, not a word to translate: it is marked so."""
    source, _, who = actor.partition(":")
    key = f"actor.{source}"
    if not who:
        return Markup.escape(t(key) if key in TEXT_KEYS else actor)
    if source == "unit":
        return Markup.escape(unit_name(who))
    if source == "console":
        return Markup('<span translate="no">{}</span>').format(staff_name(who))
    name = Markup('<span translate="no">{}</span>').format(who)
    if key not in TEXT_KEYS:
        return name
    return Markup.escape(t("paren")).format(main=t(key), aside=name)


def staff_name(username: str) -> str:
    """A staff user's display name (their login if they have none), looked up once a request."""
    names: dict[str, str] = g.setdefault("staff_names", {})
    if username not in names:
        shown = db.session().scalar(
            select(StaffUser.display_name).where(StaffUser.username == username)
        )
        names[username] = shown or username
    return names[username]


def event_text(event: CaseEvent) -> str | None:
    """What a generated event means, in the page's language; None for an event whose note was
    written by a person (the note is then shown as written)."""
    data = event.data or {}
    if event.actor == "system":
        if event.action == "dispatch":
            rule = data.get("rule", "category")
            return t(f"event.dispatch.{rule}").format(unit=unit_name(data.get("unit")))
        if event.action in ("escalate", "remind", "receive"):
            return t(f"event.system.{event.action}")
        return None
    if event.actor == "survey":
        if data.get("survey_redo"):
            return t("event.survey.redo").format(unit=unit_name(data.get("unit")))
        found = data.get("survey")
        if isinstance(found, dict):
            return survey_text(found)
    return None


def survey_text(found: dict[str, Any]) -> str:
    """A callback survey's findings as one line in the page's language."""
    state, outcome = found.get("state"), found.get("outcome")
    if state == "unreachable":
        return t("survey.unreachable")
    if outcome == "opted_out" and "resolved" not in found and "score" not in found:
        return t("survey.opted_out")
    parts = []
    if "resolved" in found:
        parts.append(t("survey.resolved" if found["resolved"] else "survey.unresolved"))
    if found.get("score") is not None:
        parts.append(t("survey.score").format(score=found["score"]))
    if not parts and not found.get("comment"):
        return t("survey.no_answers")
    return t("survey.summary").format(answers=t("list_sep").join(parts) or "-")


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
