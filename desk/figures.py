"""The desk's figures for a period [since, until): how long callers waited for a call-taker, how
many gave up, whether those who gave up were called back, and who answered.

China's 12345 standard (GB/T 33358) measures the share of calls a person answers within 15 s,
with a target of 95%. Every figure here is read from the queue's own records, as they stand
when asked:

- The entries are the `queue_entries` whose caller *joined* the queue in [since, until). An
  entry has *ended* once Twilio reported how the wait ended (its Enqueue action); a caller still
  waiting — or being answered, since Twilio reports a bridged wait when the call ends — has not.
- `share_within_15_s`: entries answered (bridged) with Twilio's QueueTime ≤ 15 s, over *every
  entry that ended* — answered, hung up, left for a call-back or not queued at all (failed). A
  caller who gave up or asked for a call-back was not answered within 15 s, so they count
  against it, as the standard counts calls that asked for a person. (An answered entry without a
  QueueTime is not counted within 15 s: nothing says it was.)
- `answer_rate`: answered over ended; `abandon_rate`: hung up in the queue over ended.
- `wait_avg_s` and `wait_p90_s`: the mean and the 90th percentile (nearest rank: the smallest
  wait that at least 90% of the answered waits do not exceed) of the answered entries' QueueTime,
  in seconds; None when no answered entry has one.
- Call-back completion: the call-back tasks of missed calls (hung up in the queue, asked for a
  call-back in it, hung up in the IVR, during a bridge, or nobody answered) *created* in the
  period; the share closed with outcome `reached`, and the share closed at all (whatever the
  outcome: reached, no answer three times, wrong number, not needed). A repeated call's task,
  closed at once as `grouped` with the number's open task, is not a call-back of its own and is
  left out.
- Per call-taker: the answered entries each call-taker took (`answered_by`) and their share of
  all answered entries.
- Occupancy per call-taker, from their state log (`taker_state_changes`) over the period (up to
  now): the time on a call, plus wrap-up up to DESK_WRAP_UP_S each time (a call-taker who never
  pressed "done" is free again after it), over the time signed in (every state but signed
  out). Their state when the period began is their last change before it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.db import utcnow
from desk.models import QueueEntry, QueueResult, TakerState, TakerStateChange
from routing.models import CallbackKind, CallbackTask

#: GB/T 33358: a caller reaches a person within this many seconds…
ANSWER_WITHIN_S = 15
#: …for at least this share of calls.
TARGET_SHARE = 0.95
#: The call-back tasks of missed calls, whose completion is measured.
MISSED_CALL_KINDS = (
    CallbackKind.ABANDONED_QUEUE,
    CallbackKind.QUEUE_CALLBACK,
    CallbackKind.ABANDONED_IVR,
    CallbackKind.ABANDONED_BRIDGE,
    CallbackKind.UNANSWERED,
)
#: The outcome of a call-back that spoke to the caller.
REACHED = "reached"
#: A repeated call's task, folded into the number's open one (routing.callbacks.GROUPED).
GROUPED = "grouped"


class Wait(NamedTuple):
    """What the figures need of one queue entry."""

    result: QueueResult
    #: Twilio's QueueTime, seconds.
    wait_s: int | None
    answered_by: str | None


class CallBack(NamedTuple):
    """What the figures need of one call-back task."""

    closed: bool
    outcome: str | None


@dataclasses.dataclass(frozen=True)
class TakerCalls:
    username: str
    #: Entries of the period they answered.
    answered: int
    #: Of all answered entries of the period.
    share: float


@dataclasses.dataclass(frozen=True)
class TakerOccupancy:
    username: str
    #: Seconds signed in (any state but signed out) in the period.
    signed_in_s: int
    #: Seconds on a call or in wrap-up (each wrap-up up to DESK_WRAP_UP_S).
    busy_s: int

    @property
    def share(self) -> float | None:
        return _share(self.busy_s, self.signed_in_s)


class StateChange(NamedTuple):
    username: str
    state: TakerState
    at: dt.datetime


def occupancy(
    changes: Iterable[StateChange],
    since: dt.datetime,
    until: dt.datetime,
    wrap_up_s: int,
) -> list[TakerOccupancy]:
    """Each call-taker's occupancy over [since, until) from their state changes in time order
    (the last one before `since` included: it is their state when the period began)."""
    by_taker: dict[str, list[StateChange]] = {}
    for change in sorted(changes, key=lambda c: (c.username, c.at)):
        by_taker.setdefault(change.username, []).append(change)
    found = []
    for username, log in by_taker.items():
        signed_in = busy = 0.0
        for change, following in zip(log, [*log[1:], None], strict=True):
            start = max(change.at, since)
            end = min(following.at if following else until, until)
            seconds = max(0.0, (end - start).total_seconds())
            if change.state is TakerState.LOGGED_OUT or not seconds:
                continue
            signed_in += seconds
            if change.state is TakerState.ON_CALL:
                busy += seconds
            elif change.state is TakerState.WRAP_UP:
                began = max(0.0, (start - change.at).total_seconds())
                busy += max(0.0, min(seconds, wrap_up_s - began))
        if signed_in:
            found.append(TakerOccupancy(username, round(signed_in), round(busy)))
    return sorted(found, key=lambda o: o.username)


@dataclasses.dataclass(frozen=True)
class DeskFigures:
    """The desk's figures for a period (the module's docstring says what each one means)."""

    #: Entries that joined the queue in the period.
    entries: int
    waiting: int
    #: entries - waiting: answered + abandoned + callbacks_asked + failed.
    ended: int
    answered: int
    #: Hung up while waiting.
    abandoned: int
    #: Took the call-back offer and left the queue.
    callbacks_asked: int
    #: Twilio could not queue them: put through to the desk's roster route directly.
    failed: int
    answered_within_15_s: int
    share_within_15_s: float | None
    answer_rate: float | None
    abandon_rate: float | None
    wait_avg_s: float | None
    wait_p90_s: float | None
    #: Call-back tasks of missed calls created in the period, closed, closed with `reached`.
    callback_tasks: int
    callbacks_closed: int
    callbacks_reached: int
    #: Most answered first.
    per_taker: list[TakerCalls]
    #: By call-taker.
    occupancy: list[TakerOccupancy] = dataclasses.field(default_factory=list)

    @property
    def callback_reached_rate(self) -> float | None:
        return _share(self.callbacks_reached, self.callback_tasks)

    @property
    def callback_closed_rate(self) -> float | None:
        return _share(self.callbacks_closed, self.callback_tasks)

    @property
    def target_share(self) -> float:
        return TARGET_SHARE

    @property
    def below_target(self) -> bool:
        """The share answered within 15 s is known and under the 95% target."""
        return self.share_within_15_s is not None and self.share_within_15_s < TARGET_SHARE

    @property
    def answer_rate_below_target(self) -> bool:
        return self.answer_rate is not None and self.answer_rate < TARGET_SHARE

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "waiting": self.waiting,
            "ended": self.ended,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "callbacks_asked": self.callbacks_asked,
            "failed": self.failed,
            "answered_within_15_s": self.answered_within_15_s,
            "share_within_15_s": self.share_within_15_s,
            "target_share": self.target_share,
            "answer_rate": self.answer_rate,
            "abandon_rate": self.abandon_rate,
            "wait_avg_s": self.wait_avg_s,
            "wait_p90_s": self.wait_p90_s,
            "callbacks": {
                "tasks": self.callback_tasks,
                "closed": self.callbacks_closed,
                "reached": self.callbacks_reached,
                "closed_rate": self.callback_closed_rate,
                "reached_rate": self.callback_reached_rate,
            },
            "per_taker": [
                {"username": k.username, "answered": k.answered, "share": k.share}
                for k in self.per_taker
            ],
            "occupancy": [
                {
                    "username": o.username,
                    "signed_in_s": o.signed_in_s,
                    "busy_s": o.busy_s,
                    "share": o.share,
                }
                for o in self.occupancy
            ],
        }

    def csv_rows(self) -> list[tuple[str, str, str]]:
        """(figure, key, value) rows, as console.figures exports them."""
        flat = self.as_dict()
        callbacks = flat.pop("callbacks")
        per_taker = flat.pop("per_taker")
        busy = flat.pop("occupancy")
        rows = [("desk", key, _text(value)) for key, value in flat.items()]
        rows += [("desk_callbacks", key, _text(value)) for key, value in callbacks.items()]
        rows += [("desk_answered_by", k["username"], str(k["answered"])) for k in per_taker]
        rows += [("desk_occupancy", o["username"], _text(o["share"])) for o in busy]
        return rows


def _text(value: float | int | None) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def p90(values: list[int]) -> float | None:
    """The nearest-rank 90th percentile: the smallest value that at least 90% of `values` do not
    exceed (of 10 values, the 9th smallest; of 1 to 9, the largest)."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[math.ceil(0.9 * len(ordered)) - 1])


def summarise(queue_entries: Iterable[Wait], callback_tasks: Iterable[CallBack]) -> DeskFigures:
    """The figures of these queue entries and call-back tasks (a pure computation)."""
    entries, tasks = list(queue_entries), list(callback_tasks)
    results = Counter(e.result for e in entries)
    answered = [e for e in entries if e.result is QueueResult.BRIDGED]
    waits = [e.wait_s for e in answered if e.wait_s is not None]
    within = sum(1 for s in waits if s <= ANSWER_WITHIN_S)
    ended = len(entries) - results[QueueResult.WAITING]
    takers = Counter(e.answered_by for e in answered if e.answered_by)
    return DeskFigures(
        entries=len(entries),
        waiting=results[QueueResult.WAITING],
        ended=ended,
        answered=len(answered),
        abandoned=results[QueueResult.HANGUP],
        callbacks_asked=results[QueueResult.CALLBACK],
        failed=results[QueueResult.FAILED],
        answered_within_15_s=within,
        share_within_15_s=_share(within, ended),
        answer_rate=_share(len(answered), ended),
        abandon_rate=_share(results[QueueResult.HANGUP], ended),
        wait_avg_s=statistics.fmean(waits) if waits else None,
        wait_p90_s=p90(waits),
        callback_tasks=len(tasks),
        callbacks_closed=sum(1 for t in tasks if t.closed),
        callbacks_reached=sum(1 for t in tasks if t.closed and t.outcome == REACHED),
        per_taker=[
            TakerCalls(username=name, answered=n, share=n / len(answered))
            for name, n in sorted(takers.items(), key=lambda item: (-item[1], item[0]))
        ],
    )


def desk_figures(
    session: Session,
    since: dt.datetime,
    until: dt.datetime,
    *,
    wrap_up_s: int = 30,
    now: dt.datetime | None = None,
) -> DeskFigures:
    """The desk's figures for [since, until), from the queue entries that joined in it and the
    call-back tasks of missed calls created in it."""
    entries = session.execute(
        select(QueueEntry.result, QueueEntry.wait_s, QueueEntry.answered_by).where(
            QueueEntry.enqueued_at >= since, QueueEntry.enqueued_at < until
        )
    )
    tasks = session.execute(
        select(CallbackTask.closed_at.is_not(None), CallbackTask.outcome).where(
            CallbackTask.kind.in_(MISSED_CALL_KINDS),
            or_(CallbackTask.outcome.is_(None), CallbackTask.outcome != GROUPED),
            CallbackTask.created_at >= since,
            CallbackTask.created_at < until,
        )
    )
    figures = summarise(
        (Wait(QueueResult(r), s, by) for r, s, by in entries),
        (CallBack(bool(closed), outcome) for closed, outcome in tasks),
    )
    end = min(until, now or utcnow())
    last_before = (
        select(func.max(TakerStateChange.id))
        .where(TakerStateChange.at < since)
        .group_by(TakerStateChange.username)
    )
    changes = session.execute(
        select(TakerStateChange.username, TakerStateChange.state, TakerStateChange.at).where(
            or_(
                TakerStateChange.id.in_(last_before),
                (TakerStateChange.at >= since) & (TakerStateChange.at < end),
            )
        )
    )
    return dataclasses.replace(
        figures,
        occupancy=occupancy(
            (StateChange(u, TakerState(st), at) for u, st, at in changes), since, end, wrap_up_s
        ),
    )
