"""Bridging a caller, as other packages start it: the plan from the roster, the first dial step.

The IVR and the service-request intake put a caller through here (`start_bridge`); the bridge's
own webhooks (routing/views.py) carry it on from step to step with the same plan.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from flask import current_app
from twilio.twiml.voice_response import VoiceResponse

from core import db, durable, webhooks
from core.phone import caller_e164
from routing import bridge
from routing.bridge import DESK, DOUBT, Bridge
from routing.cache import RosterCache
from routing.roster import ROUTE_KEYS, DialStep, plan

#: What a bridge may be on: a route of the roster, or a doubtful caller (DOUBT).
BRIDGE_ROUTES: tuple[str, ...] = (*ROUTE_KEYS, DOUBT)


def roster_cache() -> RosterCache:
    """The app's roster cache (the roster each process keeps, refreshed from the database)."""
    cache: RosterCache = current_app.extensions["hotline.roster"]
    return cache


def steps_for(b: Bridge) -> tuple[DialStep, ...]:
    """The bridge's plan, recomputed from the roster as it stood when the bridge started."""
    settings = webhooks.settings()
    last_resort = settings.service_desk_number if b.route == DESK else settings.fallback_number
    roster = roster_cache().get(version=b.version or None)
    at = dt.datetime.fromtimestamp(b.at, dt.UTC)
    if roster is None:  # no roster anywhere: only the last resort is left
        return (DialStep(tier=-1, numbers=((last_resort or "", "last-resort"),), ring_seconds=30),)
    # A doubtful caller is answered by the desk's people, with the emergency last resort.
    return plan(roster, DESK if b.route == DOUBT else b.route, at, last_resort)


def start_bridge(
    response: VoiceResponse, call_sid: str, route: str, language: str
) -> VoiceResponse:
    """Begin bridging the caller on `route` (an emergency category, the desk, or DOUBT)."""
    b = Bridge(
        route=route if route in BRIDGE_ROUTES else "police",
        at=int(time.time()),
        language=language,
        version=roster_cache().version() or 0,
    )
    steps = steps_for(b)
    log_dial(call_sid, b, steps, 0)
    return bridge.dial(response, webhooks.settings(), b, steps, 0, caller=caller())


def log_dial(call_sid: str, b: Bridge, steps: tuple[DialStep, ...], index: int) -> None:
    """Record durably that dial step `index` of the bridge starts ringing."""
    durable.persist(dial_record(call_sid, b, steps, index))


def dial_record(
    call_sid: str, b: Bridge, steps: tuple[DialStep, ...], index: int
) -> tuple[str, dict[str, Any]]:
    """That dial step `index` starts ringing, as a record for `durable.persist`."""
    step = steps[index]
    return (
        "dial",
        {
            "call_sid": call_sid,
            "route": b.route,
            "step": index,
            "tier": step.tier,
            "numbers": [{"phone": phone, "officer": code} for phone, code in step.numbers],
            "at": db.utcnow().isoformat(),
        },
    )


def caller() -> str | None:
    """The caller's E.164 number from the webhook (None: withheld or unusable)."""
    return caller_e164(webhooks.params().get("From"), webhooks.settings().default_region)
