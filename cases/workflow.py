"""The life of a case as a table of legal transitions — pure, no database.

=================  ==============================================  ==================
action             from                                            to
=================  ==============================================  ==================
handle_on_spot     received, reopened                              handled_on_spot
dispatch           received, reopened, dispatched (re-dispatch)    dispatched
accept             dispatched                                      accepted
start              accepted                                        in_progress
resolve            accepted, in_progress, handled_on_spot          resolved
close              resolved                                        closed
reopen (重办)      resolved, closed                                reopened
escalate (督办)    any open state                                  (unchanged)
=================  ==============================================  ==================

`escalate` (督办) is legal in every open state and leaves the state as it is: it only writes an
audited event. `resolve` needs the unit's feedback note and `reopen` a reason; `service.apply`
enforces both (`NOTE_REQUIRED`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


class CaseError(ValueError):
    """Something asked of a case cannot be done; the message says what and why."""


class CaseState(enum.StrEnum):
    RECEIVED = "received"  # 受理
    HANDLED_ON_SPOT = "handled_on_spot"  # 即办: the center answers it itself
    DISPATCHED = "dispatched"  # 转办: sent to a unit, not yet acknowledged
    ACCEPTED = "accepted"  # the unit took it
    IN_PROGRESS = "in_progress"  # the unit is working on it
    RESOLVED = "resolved"  # 反馈: the result is reported back, awaiting the callback
    CLOSED = "closed"  # 办结
    REOPENED = "reopened"  # 重办: the caller was not satisfied


class Action(enum.StrEnum):
    HANDLE_ON_SPOT = "handle_on_spot"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    ESCALATE = "escalate"


S = CaseState

#: States in which somebody still owes the caller something: deadlines are watched (and
#: escalated) only here. A resolved case waits for the callback, a closed one is done.
OPEN_STATES: frozenset[CaseState] = frozenset(
    {S.RECEIVED, S.HANDLED_ON_SPOT, S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS, S.REOPENED}
)
#: The same, in the order of the enum (for messages and queries).
OPEN_STATES_ORDERED: tuple[CaseState, ...] = tuple(s for s in CaseState if s in OPEN_STATES)


@dataclass(frozen=True)
class Rule:
    """Where an action may start (in this order, for messages), and where it leads.

    `target` None means "the state the case is in" (escalation changes nothing but the log).
    """

    sources: tuple[CaseState, ...]
    target: CaseState | None


TRANSITIONS: Mapping[Action, Rule] = MappingProxyType(
    {
        Action.HANDLE_ON_SPOT: Rule((S.RECEIVED, S.REOPENED), S.HANDLED_ON_SPOT),
        Action.DISPATCH: Rule((S.RECEIVED, S.REOPENED, S.DISPATCHED), S.DISPATCHED),
        Action.ACCEPT: Rule((S.DISPATCHED,), S.ACCEPTED),
        Action.START: Rule((S.ACCEPTED,), S.IN_PROGRESS),
        Action.RESOLVE: Rule((S.ACCEPTED, S.IN_PROGRESS, S.HANDLED_ON_SPOT), S.RESOLVED),
        Action.CLOSE: Rule((S.RESOLVED,), S.CLOSED),
        Action.REOPEN: Rule((S.RESOLVED, S.CLOSED), S.REOPENED),
        Action.ESCALATE: Rule(OPEN_STATES_ORDERED, None),
    }
)

#: Actions that need a note: the unit's feedback (resolve), the caller's reason (reopen).
NOTE_REQUIRED: frozenset[Action] = frozenset({Action.RESOLVE, Action.REOPEN})


class IllegalTransition(CaseError):
    """The action is not allowed from the case's state."""

    def __init__(self, state: CaseState, action: Action) -> None:
        self.state = state
        self.action = action
        allowed = ", ".join(s.value for s in TRANSITIONS[action].sources)
        super().__init__(
            f"cannot {action.value} a case that is {state.value} (allowed from: {allowed})"
        )


def transition(state: CaseState | str, action: Action | str) -> CaseState:
    """The state after `action`, or IllegalTransition (ValueError for an unknown name)."""
    state = CaseState(state)
    action = Action(action)
    rule = TRANSITIONS[action]
    if state not in rule.sources:
        raise IllegalTransition(state, action)
    return rule.target or state


def allowed_actions(state: CaseState | str) -> tuple[Action, ...]:
    """What may be done to a case in `state`, in the order of `Action`."""
    state = CaseState(state)
    return tuple(a for a in Action if state in TRANSITIONS[a].sources)
