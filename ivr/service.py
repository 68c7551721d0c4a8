"""Reads and writes of IVR state. Functions flush, never commit."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from calls.models import Call
from core.categories import Kind
from core.db import insert_if_missing, utcnow
from core.handover import Heard
from ivr.engine import CallerInput, Handover, Position, Step
from ivr.models import IvrSession


def begin(session: Session, call_sid: str, start: Position, twiml: str = "") -> bool:
    """Create the call's IVR session at `start`, with `twiml` as its answer, unless it has one.

    Returns whether this call created it. Safe under retries and duplicates, in one process or
    several: one INSERT … ON CONFLICT DO NOTHING, and an existing session keeps what it had
    (the first delivery's answer, or the newest one).
    """
    now = utcnow()
    values = {
        "call_sid": call_sid,
        "node": start.node,
        "language": start.language,
        "step": 0,
        "no_input_count": 0,
        "no_match_count": 0,
        "digits": "",
        "utterances": [],
        "last_twiml": twiml,
        "created_at": now,
        "updated_at": now,
    }
    created = insert_if_missing(session, IvrSession, values, unique="call_sid", returning="id")
    return created is not None


_IVR = cast(Table, IvrSession.__table__)
#: Statements of every gather webhook, built once (building one costs more than running it);
#: BY_CALL is read in the webhook's own round trip (calls.webhook.accept_call_webhook_reading).
BY_CALL = (
    select(IvrSession)
    .where(IvrSession.call_sid == bindparam("call_sid"))
    .execution_options(populate_existing=True)
)
#: The SET clause comes from the values given at execution (their names are columns).
_ADVANCE = update(_IVR).where(_IVR.c.id == bindparam("w_id"), _IVR.c.step == bindparam("w_step"))


def get(session: Session, call_sid: str) -> IvrSession | None:
    """The call's IVR session, fresh from the database."""
    return session.scalars(BY_CALL, {"call_sid": call_sid}).one_or_none()


def heard_of(ivr: IvrSession | None) -> Heard:
    """What a call's IVR session (None: it has none) says the caller said, and its category."""
    if ivr is None:
        return Heard()
    transcript = " / ".join(u["text"] for u in ivr.utterances)
    category = ivr.category if ivr.kind is Kind.SERVICE and ivr.category else None
    return Heard(transcript=transcript, category=category)


def position(ivr: IvrSession) -> Position:
    """The engine's view of a stored session."""
    return Position(
        node=ivr.node,
        language=ivr.language,
        no_input=ivr.no_input_count,
        no_match=ivr.no_match_count,
    )


def advance(
    session: Session,
    ivr: IvrSession,
    *,
    expected_step: int,
    heard: CallerInput,
    step: Step,
    twiml: str,
    now: dt.datetime | None = None,
) -> bool:
    """Record one processed input and its response, only if nobody processed it before.

    One conditional UPDATE on `step`: of two deliveries of the same webhook, in one process or
    two, exactly one advances the call. Returns whether this one did.
    """
    now = now or utcnow()
    values: dict[str, Any] = {
        "step": expected_step + 1,
        "node": step.position.node,
        "language": step.position.language,
        "no_input_count": step.position.no_input,
        "no_match_count": step.position.no_match,
        "reason": step.reason[:64],
        "last_twiml": twiml,
        "updated_at": now,
    }
    if heard.digits is not None:
        values["digits"] = (ivr.digits + heard.digits)[-64:]
    if heard.speech is not None:
        said = {"text": heard.speech, "confidence": heard.confidence, "at": now.isoformat()}
        values["utterances"] = [*ivr.utterances, said]
    if step.classification is not None:
        values["kind"] = step.classification.kind
        values["category"] = step.classification.category
        values["classifier_confidence"] = step.classification.confidence
    if isinstance(step.action, Handover):
        values["branch"] = step.action.branch
        values["handed_over_at"] = now
    result = session.execute(_ADVANCE, {"w_id": ivr.id, "w_step": expected_step, **values})
    if not getattr(result, "rowcount", 0):
        return False
    if step.position.language != ivr.language:
        set_call_language(session, ivr.call_sid, step.position.language)
    return True


def set_call_language(session: Session, call_sid: str, language: str) -> None:
    """Note the language a call is being served in."""
    session.execute(
        update(Call)
        .where(Call.call_sid == call_sid)
        .values(language=language)
        .execution_options(synchronize_session=False)
    )
