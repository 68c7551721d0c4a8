"""Which staff may see a case and act on it: the case workflow's rules for each staff role.

The roles are the README's (docs/reference.md, "Logins and roles"):

- a dispatcher (接线/派单) works every case at the center: dispatches and re-dispatches it to a
  unit, handles it on the spot, resolves it with the feedback, closes it and reopens it (重办)
  — but neither accepts nor starts it (that is the unit's) nor escalates it (督办);
- a supervisor does what a dispatcher does, plus escalation (督办);
- an admin does everything;
- a unit's contact accepts, starts and resolves (with the unit's feedback) the unit's own cases;
- a client (a city app) files requests through Open311 and acts on no case.
"""

from __future__ import annotations

from cases.models import Case
from cases.workflow import Action
from staff.models import Role, StaffUser
from staff.service import CENTER

#: What the unit does with a case sent to it (the center does not do it in the unit's name).
UNIT_ACTIONS: frozenset[Action] = frozenset({Action.ACCEPT, Action.START, Action.RESOLVE})
#: What the center's dispatchers do: everything but the unit's own steps and escalation.
DISPATCHER_ACTIONS: frozenset[Action] = frozenset(
    {Action.DISPATCH, Action.HANDLE_ON_SPOT, Action.RESOLVE, Action.CLOSE, Action.REOPEN}
)
#: A supervisor: a dispatcher's actions, plus escalation (督办).
SUPERVISOR_ACTIONS: frozenset[Action] = DISPATCHER_ACTIONS | {Action.ESCALATE}

#: The case actions each role may take (a unit's contact works only its own unit's cases).
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.SUPERVISOR: SUPERVISOR_ACTIONS,
    Role.DISPATCHER: DISPATCHER_ACTIONS,
    Role.UNIT: UNIT_ACTIONS,
    Role.CLIENT: frozenset(),
}


def can_see_case(user: StaffUser, case: Case) -> bool:
    """The center sees every case; a unit's contact only the cases of their unit."""
    if user.role in CENTER:
        return True
    return (
        user.role is Role.UNIT and user.unit_code is not None and case.unit_code == user.unit_code
    )


def may(user: StaffUser, action: Action | str) -> bool:
    """Whether `user`'s role may take the case action `action` (an unknown one: no)."""
    try:
        return Action(action) in ROLE_ACTIONS[user.role]
    except ValueError:
        return False
