"""The desk queue's test helpers: call-takers signed in, callers queued, Twilio's queue
webhooks (waitUrl, the Enqueue action) as Twilio sends them."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from core.db import utcnow
from desk import service
from desk.models import CallTaker, QueueEntry, TakerState
from routing.models import CallbackTask
from tests.support import TwilioSigner, call_params, gather_of, path_of, said, twiml
from tests.support.surveys import Posted, call_requests

DESK_PHONE = "+8613805990601"
OTHER_PHONE = "+8613805990602"


def sign_in(
    db_session: Session,
    username: str,
    phone: str = DESK_PHONE,
    *,
    idle_for: dt.timedelta | None = None,
) -> CallTaker:
    """A call-taker available at `phone` (for `idle_for` already, if given)."""
    taker = service.set_state(db_session, username, TakerState.AVAILABLE, phone=phone)
    if idle_for is not None:
        taker.state_since = utcnow() - idle_for
    db_session.commit()
    return taker


def queue_a_caller(
    twilio: TwilioSigner, settings: Settings, **overrides: str
) -> tuple[dict[str, str], ET.Element]:
    """A caller presses 0 (a person): the answer to that key."""
    caller = call_params(settings, **overrides)
    door = twiml(twilio.post("/voice/incoming", caller))
    action = path_of(gather_of(door).get("action") or "")
    return caller, twiml(twilio.post(action, {**caller, "Digits": "0"}))


def enqueued(root: ET.Element) -> ET.Element:
    element = root.find("Enqueue")
    assert element is not None, ET.tostring(root, encoding="unicode")
    return element


def wait(
    twilio: TwilioSigner, caller: dict[str, str], root: ET.Element, **queue: str
) -> ET.Element:
    """Twilio asks the Enqueue's waitUrl what the waiting caller hears."""
    url = path_of(enqueued(root).get("waitUrl") or "")
    return twiml(twilio.post(url, {**caller, "QueueSid": "QU" + "1" * 32, **queue}))


def leave_queue(
    twilio: TwilioSigner, caller: dict[str, str], root: ET.Element, result: str, waited: str
) -> ET.Element:
    """Twilio's Enqueue action: how the wait ended."""
    url = path_of(enqueued(root).get("action") or "")
    return twiml(
        twilio.post(
            url, {**caller, "QueueResult": result, "QueueTime": waited, "QueueSid": "QU" + "1" * 32}
        )
    )


def entry_of(db_session: Session, caller: dict[str, str]) -> QueueEntry:
    db_session.expire_all()
    found = db_session.scalar(select(QueueEntry).where(QueueEntry.call_sid == caller["CallSid"]))
    assert found is not None
    return found


def task_of(db_session: Session, caller: dict[str, str]) -> CallbackTask | None:
    db_session.expire_all()
    return db_session.scalar(select(CallbackTask).where(CallbackTask.call_sid == caller["CallSid"]))


def heard(root: ET.Element) -> str:
    return " ".join(text for _, text in said(root))


def offer_leg(rest: list[Posted]) -> dict[str, Any]:
    """The newest call the offers placed: its form, one value a field."""
    (request,) = call_requests(rest)[-1:]
    return {k: v[0] for k, v in request.data.items()}
