"""The end of a caller's call, as the IVR sees it: who hung up before anything served them.

The IVR is where every branch starts (an emergency or the desk is bridged, a service request
becomes a case, the progress look-up reads one), so it alone can tell whether a caller who hung
up was served. `call_ended` — the durable record a caller's final status makes (calls.durable)
— is handled here: routing closes the call's open bridge attempts, then a caller nobody served
gets a call-back task.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, exists, literal, or_, select
from sqlalchemy.orm import Session

from calls.models import Call, CallDirection, CallEvent, CallStatus
from cases.models import Case
from core import durable
from core.durable import parse_time
from desk.models import QueueEntry
from ivr.models import IvrSession
from routing import callbacks, store
from routing.models import BridgeAttempt, CallbackKind

#: A caller who hung up in the IVR within this many seconds of being answered misdialled (the
#: greeting's first words, "您好，民生110", take about two): no call-back for them.
MISDIAL_MAX_S = 3
#: An IVR hang-up without a caller ID is still counted (figures), closed with this outcome: a
#: duty officer can do nothing with it. (An abandoned emergency without a number stays open:
#: someone must decide, and may still trace it.)
NO_NUMBER = "no_number"
#: A caller who hung up in the IVR: after abandoned emergencies (0) and the desk's callers (1).
IVR_PRIORITY = 2
_FRONT_DOOR = "/voice/incoming"


@functools.cache
def _unserved() -> Any:
    """SELECT the caller's number and language if the call ended unserved in the IVR (built
    once).

    Served: a case opened from the call, any bridge attempt (a person was rung: an abandoned
    bridge is the Dial action's business), the desk's queue (its action records a hang-up
    there), or the progress look-up reached. Only calls that reached the front door count (not
    the units' report-back line), only `completed` ones that lasted longer than a misdial.
    """
    calls = cast(Table, Call.__table__)
    sid = bindparam("call_sid", type_=String())
    served = or_(
        exists().where(Case.call_sid == sid),
        exists().where(BridgeAttempt.call_sid == sid),
        exists().where(QueueEntry.call_sid == sid),
        exists().where(IvrSession.call_sid == sid, IvrSession.branch == "status"),
    )
    return select(calls.c.from_number, calls.c.language).where(
        calls.c.call_sid == sid,
        calls.c.direction == literal(CallDirection.INBOUND.value),
        calls.c.parent_call_sid.is_(None),
        calls.c.status == literal(CallStatus.COMPLETED.value),
        or_(calls.c.duration_s.is_(None), calls.c.duration_s > MISDIAL_MAX_S),
        exists().where(CallEvent.call_sid == sid, CallEvent.route == _FRONT_DOOR),
        ~served,
    )


@durable.handler("call_ended")
def call_ended(session: Session, record: dict[str, Any]) -> None:
    """The final status of an inbound call: close what it left open, note who went unserved.

    The call's open bridge attempts are closed (`abandoned` if nobody accepted — then, should
    the Dial action never come, its alert and task are raised there: routing.store.
    close_bridges), and a caller who hung up in the IVR unserved gets a task (routing.callbacks
    groups it with the number's open task, if there is one). Idempotent: a second delivery
    finds nothing open and the task already there.
    """
    call_sid, now = record["call_sid"], parse_time(record["at"])
    store.close_bridges(session, call_sid, now)
    unserved = session.execute(_unserved(), {"call_sid": call_sid}).first()
    if unserved is None:
        return
    number, language = unserved
    callbacks.open_callback(
        session,
        {
            "call_sid": call_sid,
            "kind": CallbackKind.ABANDONED_IVR.value,
            "priority": IVR_PRIORITY,
            "caller_number": number,
            "language": (language or "zh")[:8],
            "at": now.isoformat(),
            # Without a caller ID a duty officer can do nothing: counted, closed at once.
            "outcome": NO_NUMBER if number is None else None,
        },
    )
