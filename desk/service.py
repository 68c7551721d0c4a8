"""The call-taker desk: callers who asked for a person wait in Twilio's queue (`<Enqueue>`), the
longest-waiting is put through to the longest-idle available call-taker, and nobody who gives up
waiting is lost.

- A caller is queued only while a call-taker is signed in (`signed_in`); otherwise the IVR puts
  them straight through to the desk's roster route, as before there was a queue.
- Two queues: `desk-urgent` (a caller the front door could not understand, who may be in
  danger) is always offered before `desk`.
- An offer rings the call-taker's phone (a REST call); when they answer, `<Dial><Queue>` takes
  the caller at the front of the queue. A call-taker who does not answer within DESK_RING_S is
  put on a break (they are not at their desk) and the next one is tried.
- After a call the call-taker has DESK_WRAP_UP_S of wrap-up, then is available again.
- A caller who hangs up while waiting, or takes the call-back offer, gets a call-back task: the
  offer's in queue order (the task carries the moment they joined the queue).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from core import jobs, twilio_rest
from core.db import insert_if_missing, utcnow
from desk.models import (
    SIGNED_IN,
    CallTaker,
    QueueEntry,
    QueueResult,
    TakerState,
    TakerStateChange,
)
from routing import callbacks
from routing.models import CallbackKind, CallbackTask

log = logging.getLogger(__name__)

QUEUE = "desk"
URGENT_QUEUE = "desk-urgent"
#: Offered first.
QUEUES = (URGENT_QUEUE, QUEUE)
OFFER = "desk.offer"
#: What an offer is for when it is a queue call-back rather than a waiting caller.
CALLBACK = "call-back"
#: Call-back priorities: an urgent caller's like an abandoned emergency, the rest after.
PRIORITY = {URGENT_QUEUE: 0, QUEUE: 1}
#: A possibly urgent caller waits at most this long for a call-taker; then the desk's roster
#: route rings for them directly (they are never offered a call-back instead).
URGENT_MAX_WAIT_S = 30
#: An offer nobody took, whose leg never reported its end (a lost status callback), is taken
#: for a no-answer this long after its ring time.
LOST_OFFER_GRACE_S = 30


class DeskError(ValueError):
    """A call-taker cannot be set so; the message says why."""


def log_state(session: Session, username: str, state: TakerState, at: dt.datetime) -> None:
    """Append a call-taker's new state to their log (occupancy is measured from it)."""
    session.add(TakerStateChange(username=username, state=state, at=at))


# ------------------------------------------------------------------------------ call-takers


def signed_in(session: Session) -> int:
    """How many call-takers are at the desk (available, on a call, in wrap-up or on a break)."""
    return (
        session.scalar(
            select(func.count()).select_from(CallTaker).where(CallTaker.state.in_(SIGNED_IN))
        )
        or 0
    )


def taker(session: Session, username: str) -> CallTaker | None:
    return session.scalar(select(CallTaker).where(CallTaker.username == username))


def set_state(
    session: Session,
    username: str,
    state: TakerState | str,
    *,
    phone: str | None = None,
    now: dt.datetime | None = None,
) -> CallTaker:
    """Set a call-taker's state (signing them in with `phone` the first time); becoming
    available offers them the next caller."""
    now = now or utcnow()
    state = TakerState(state)
    found = taker(session, username)
    if found is None:
        if not phone:
            raise DeskError(f"{username}: give the desk phone (a number or sip: URI) to sign in")
        found = CallTaker(username=username, phone=phone, state=state, missed=0)
        session.add(found)
    if found.state is TakerState.ON_CALL and state is not TakerState.LOGGED_OUT:
        raise DeskError(f"{username} is on a call: the state changes when it ends")
    if phone:
        found.phone = phone
    found.state, found.state_since, found.updated_at = state, now, now
    log_state(session, username, state, now)
    session.flush()
    if state is TakerState.AVAILABLE:
        schedule_offer(session)
    return found


def finish_wrap_up(session: Session, username: str, now: dt.datetime | None = None) -> CallTaker:
    """The call-taker is done with the last call's notes: available now."""
    found = taker(session, username)
    if found is None or found.state is not TakerState.WRAP_UP:
        raise DeskError(f"{username} is not in wrap-up")
    return set_state(session, username, TakerState.AVAILABLE, now=now)


def takers(session: Session) -> list[CallTaker]:
    return list(session.scalars(select(CallTaker).order_by(CallTaker.username)))


# ------------------------------------------------------------------------------- the queue


def enqueue(
    session: Session,
    call_sid: str,
    *,
    caller_number: str | None,
    language: str,
    urgent: bool,
    now: dt.datetime | None = None,
) -> str:
    """Note that a caller joins a queue (idempotent on the call); the queue's name."""
    queue = URGENT_QUEUE if urgent else QUEUE
    insert_if_missing(
        session,
        QueueEntry,
        {
            "call_sid": call_sid,
            "queue": queue,
            "language": language,
            "caller_number": caller_number,
            "enqueued_at": now or utcnow(),
            "result": QueueResult.WAITING,
        },
        unique="call_sid",
    )
    schedule_offer(session)
    return queue


def entry(session: Session, call_sid: str) -> QueueEntry | None:
    return session.scalar(select(QueueEntry).where(QueueEntry.call_sid == call_sid))


def left(
    session: Session,
    call_sid: str,
    result: QueueResult,
    *,
    wait_s: int | None,
    now: dt.datetime | None = None,
) -> QueueEntry | None:
    """A caller's wait ended (Twilio's Enqueue action): kept, and a caller who hung up or asked
    for a call-back gets a call-back task. The first report wins."""
    now = now or utcnow()
    found = entry(session, call_sid)
    if found is None or found.result is not QueueResult.WAITING:
        return found
    if result is QueueResult.CALLBACK and found.callback_asked_at is None:
        result = QueueResult.FAILED  # left to be put through directly, not for a call-back
    found.result, found.left_at, found.wait_s = result, now, wait_s
    if result in (QueueResult.HANGUP, QueueResult.CALLBACK):
        callbacks.open_callback(
            session,
            {
                "call_sid": call_sid,
                "kind": (
                    CallbackKind.QUEUE_CALLBACK
                    if result is QueueResult.CALLBACK
                    else CallbackKind.ABANDONED_QUEUE
                ).value,
                "priority": PRIORITY[found.queue],
                "caller_number": found.caller_number,
                "route": "doubt" if found.queue == URGENT_QUEUE else "desk",
                "language": found.language,
                # In queue order: a task is ordered by when its caller joined the queue.
                "at": found.enqueued_at.isoformat(),
            },
        )
    session.flush()
    return found


def ask_callback(session: Session, call_sid: str, now: dt.datetime | None = None) -> bool:
    """The caller pressed 1 for a call-back (a waiting caller of the ordinary queue only)."""
    done = session.execute(
        update(QueueEntry)
        .where(
            QueueEntry.call_sid == call_sid,
            QueueEntry.queue == QUEUE,
            QueueEntry.result == QueueResult.WAITING,
            QueueEntry.caller_number.is_not(None),
        )
        .values(callback_asked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(done, "rowcount", 0))


def free_takers(session: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """How many call-takers could be offered a caller right now."""
    return (
        session.scalar(
            select(func.count()).select_from(CallTaker).where(_free(now or utcnow(), settings))
        )
        or 0
    )


#: A caller still waiting for a call-taker (one being talked to stays `waiting` at Twilio until
#: the call ends, but has a call-taker).
STILL_WAITING = (QueueEntry.result == QueueResult.WAITING) & QueueEntry.answered_by.is_(None)


def waiting(session: Session, queue: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(QueueEntry)
            .where(QueueEntry.queue == queue, STILL_WAITING)
        )
        or 0
    )


# ------------------------------------------------------------------------------- the offers


def schedule_offer(session: Session, due_at: dt.datetime | None = None) -> None:
    """Look for a caller to put through once this transaction commits (or at `due_at`)."""
    job = jobs.schedule(session, OFFER, uuid.uuid4().hex, {}, due_at=due_at, max_attempts=3)
    if due_at is None:
        jobs.push_later(job)


def _free(now: dt.datetime, settings: Settings) -> Any:
    """Available call-takers, and those whose wrap-up is over."""
    wrap_up_over = now - dt.timedelta(seconds=settings.desk_wrap_up_s)
    return or_(
        CallTaker.state == TakerState.AVAILABLE,
        (CallTaker.state == TakerState.WRAP_UP) & (CallTaker.state_since <= wrap_up_over),
    )


def next_offer(
    session: Session, settings: Settings, now: dt.datetime
) -> tuple[CallTaker, str] | None:
    """The longest-idle free call-taker and the queue to take a caller from (urgent first),
    the call-taker marked on a call; None if nobody waits or nobody is free."""
    # Callers already being offered (a call-taker rung, not yet put through) are not offered
    # twice; the urgent queue's callers are offered first.
    pending = (
        session.scalar(
            select(func.count())
            .select_from(CallTaker)
            .where(CallTaker.state == TakerState.ON_CALL, CallTaker.caller_sid.is_(None))
        )
        or 0
    )
    urgent, ordinary = waiting(session, URGENT_QUEUE), waiting(session, QUEUE)
    if urgent + ordinary <= pending:
        return _callback_offer(session, settings, now) if urgent + ordinary == 0 else None
    queue = URGENT_QUEUE if urgent > pending else QUEUE
    chosen = _longest_idle(session, settings, now)
    if chosen is None or not _take(session, chosen, settings, now):
        return None
    session.refresh(chosen)
    return chosen, queue


def _callback_offer(
    session: Session, settings: Settings, now: dt.datetime
) -> tuple[CallTaker, str] | None:
    """Nobody waits: the oldest queue call-back goes to the longest-idle free call-taker."""
    if next_callback(session) is None:
        return None
    chosen = _longest_idle(session, settings, now)
    if chosen is None or not _take(session, chosen, settings, now):
        return None
    session.refresh(chosen)
    return chosen, CALLBACK


def _longest_idle(session: Session, settings: Settings, now: dt.datetime) -> CallTaker | None:
    return session.scalar(
        select(CallTaker)
        .where(_free(now, settings))
        .order_by(CallTaker.state_since, CallTaker.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def _take(session: Session, chosen: CallTaker, settings: Settings, now: dt.datetime) -> bool:
    """Mark a free call-taker on a call (False if another worker took them first)."""
    taken = session.execute(
        update(CallTaker)
        .where(CallTaker.id == chosen.id, _free(now, settings))
        .values(
            state=TakerState.ON_CALL,
            state_since=now,
            updated_at=now,
            leg_sid=None,
            accepted_at=None,
            caller_sid=None,
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(taken, "rowcount", 0):
        return False
    log_state(session, chosen.username, TakerState.ON_CALL, now)
    return True


@jobs.handler(OFFER)
def offer(session: Session, payload: dict[str, Any], settings: Settings) -> None:
    """Put the longest-waiting caller through to the longest-idle free call-taker: ring their
    phone; when they answer, `<Dial><Queue>` takes the caller at the front of the queue."""
    now = utcnow()
    found = next_offer(session, settings, now)
    if found is None:
        session.rollback()
        return
    chosen, queue = found
    if queue == CALLBACK:
        task = next_callback(session)
        if task is None:  # taken meanwhile: the call-taker is free again
            session.rollback()
            return
        _ring_for_callback(session, settings, chosen, task, now)
        return
    session.commit()
    # Not rung (Twilio unreachable): the call-taker is free again, the caller still waits and
    # the job retries.
    leg_sid = ring(session, settings, chosen, f"queue={queue}", chosen.state_since)
    log.info("desk: offering a %s caller to %s (leg %s)", queue, chosen.username, leg_sid)


def taker_accepted(session: Session, taker_id: int, now: dt.datetime) -> CallTaker | None:
    """The call-taker pressed a key: a person, not a voicemail, took the offer."""
    found = session.get(CallTaker, taker_id)
    if found is None or found.state is not TakerState.ON_CALL:
        return None
    found.accepted_at = now
    return found


def taker_connected(session: Session, taker_id: int, caller_sid: str) -> CallTaker | None:
    """The call-taker is being put through to this caller (the `<Queue url>` ran on them)."""
    found = session.get(CallTaker, taker_id)
    if found is None:
        return None
    found.caller_sid = caller_sid
    session.execute(
        update(QueueEntry)
        .where(QueueEntry.call_sid == caller_sid)
        .values(answered_by=found.username)
        .execution_options(synchronize_session=False)
    )
    return found


def taker_leg_ended(
    session: Session, taker_id: int, status: str, settings: Settings, now: dt.datetime
) -> CallTaker | None:
    """The call-taker's leg is over: after a call, wrap-up; accepted but nobody left to take,
    available; never accepted (no answer, busy, a voicemail), a break — they are not at their
    desk — and the next offer in every case."""
    found = session.get(CallTaker, taker_id)
    if found is None or found.state is not TakerState.ON_CALL:
        return found
    talked = found.caller_sid is not None
    if talked:
        found.state = TakerState.WRAP_UP
    elif found.accepted_at is not None:
        found.state = TakerState.AVAILABLE
    else:
        found.state = TakerState.BREAK
        found.missed += 1
        log.warning("desk: %s missed an offered call (%s): on a break", found.username, status)
    found.state_since, found.updated_at, found.leg_sid = now, now, None
    log_state(session, found.username, found.state, now)
    schedule_offer(session)
    if talked and settings.desk_wrap_up_s:
        schedule_offer(session, now + dt.timedelta(seconds=settings.desk_wrap_up_s))
    return found


# ------------------------------------------------------------------------------- call-backs


def _ring_for_callback(
    session: Session, settings: Settings, chosen: CallTaker, task: CallbackTask, now: dt.datetime
) -> str:
    """Ring `chosen` (already marked on a call) for call-back `task`, claimed for them; when
    they take it with a key, Twilio dials the caller. Returns their leg's CallSid."""
    callbacks.claim_callback(session, task.id, f"console:{chosen.username}", now)
    session.commit()
    leg_sid = ring(session, settings, chosen, f"task={task.id}", now)
    log.info("desk: %s calls back task %s (leg %s)", chosen.username, task.id, leg_sid)
    return leg_sid


def ring(
    session: Session,
    settings: Settings,
    chosen: CallTaker,
    target: str,
    free_since: dt.datetime,
) -> str:
    """Ring a call-taker already marked on a call, for `target` (`queue=…` or `task=…`, what
    /voice/desk/taker offers them), with the ring time and the status callback every offer
    has; if Twilio cannot be asked, they are free again (since `free_since`) and the error
    goes up. Returns their leg's CallSid."""
    try:
        leg = twilio_rest.client(settings).calls.create(
            to=chosen.phone,
            from_=settings.hotline_number,
            url=settings.public_url(f"/voice/desk/taker?taker={chosen.id}&{target}"),
            method="POST",
            status_callback=settings.public_url(f"/voice/desk/taker-status?taker={chosen.id}"),
            status_callback_method="POST",
            status_callback_event=["completed"],
            timeout=settings.desk_ring_s,
        )
    except Exception:
        session.execute(
            update(CallTaker)
            .where(CallTaker.id == chosen.id)
            .values(state=TakerState.AVAILABLE, state_since=free_since)
        )
        log_state(session, chosen.username, TakerState.AVAILABLE, utcnow())
        session.commit()
        raise
    session.execute(update(CallTaker).where(CallTaker.id == chosen.id).values(leg_sid=leg.sid))
    session.commit()
    return str(leg.sid)


def dial_callback(
    session: Session, settings: Settings, task_id: int, username: str, now: dt.datetime
) -> str:
    """Call a caller back for a call-taker, in one click: their desk phone rings first; when
    they take it, Twilio dials the caller (the hotline's number shown) and the outcome is
    recorded on the task. Returns the call-taker leg's CallSid."""
    found = taker(session, username)
    if found is None or found.state in (TakerState.LOGGED_OUT, TakerState.ON_CALL):
        raise DeskError(f"{username}: signed in and not on a call, to call back")
    task = session.get(CallbackTask, task_id)
    if task is None or task.closed_at is not None:
        raise DeskError(f"call-back task {task_id} is closed or gone")
    if not task.caller_number:
        raise DeskError(f"call-back task {task_id}: the caller's number was withheld")
    found.state, found.state_since, found.accepted_at, found.caller_sid = (
        TakerState.ON_CALL,
        now,
        None,
        None,
    )
    log_state(session, username, TakerState.ON_CALL, now)
    return _ring_for_callback(session, settings, found, task, now)


def next_callback(session: Session) -> CallbackTask | None:
    """The oldest unclaimed call-back a caller asked for in the queue (virtual hold): dialled
    when nobody is waiting, in queue order."""
    return session.scalar(
        select(CallbackTask)
        .where(
            CallbackTask.kind == CallbackKind.QUEUE_CALLBACK,
            CallbackTask.closed_at.is_(None),
            CallbackTask.claimed_by.is_(None),
            CallbackTask.caller_number.is_not(None),
        )
        .order_by(CallbackTask.priority, CallbackTask.created_at)
        .limit(1)
    )


def callback_number(session: Session, task_id: int) -> tuple[str, str] | None:
    """The number (and language) an open call-back task calls, or None."""
    task = session.get(CallbackTask, task_id)
    if task is None or task.closed_at is not None or not task.caller_number:
        return None
    return task.caller_number, task.language


#: How a call-back's <Dial> ended, as a call-back outcome.
DIAL_OUTCOMES = {"completed": "reached", "answered": "reached"}


def callback_dialled(
    session: Session, task_id: int, taker_id: int, dial_status: str, now: dt.datetime
) -> None:
    """Record the call-back's outcome from its <Dial> (reached, or no answer: kept open until
    the last attempt)."""
    found = session.get(CallTaker, taker_id)
    who = f"console:{found.username}" if found else "desk"
    outcome = DIAL_OUTCOMES.get(dial_status, "no_answer")
    try:
        callbacks.record_callback(session, task_id, outcome, who=who, now=now)
    except callbacks.CallbackError:
        log.info("desk: call-back task %s was closed meanwhile", task_id)


def expire_lost_offers(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Call-takers rung for an offer they never took, whose leg's end never came (its status
    callback lost): after DESK_RING_S and a grace, as Twilio would have ended the ringing, they
    are put on a break like any missed offer, so they can be set available again. How many."""
    stale = now - dt.timedelta(seconds=settings.desk_ring_s + LOST_OFFER_GRACE_S)
    found = session.scalars(
        select(CallTaker).where(
            CallTaker.state == TakerState.ON_CALL,
            CallTaker.accepted_at.is_(None),
            CallTaker.state_since < stale,
        )
    ).all()
    for lost in found:
        taker_leg_ended(session, lost.id, "no-answer", settings, now)
    return len(found)
