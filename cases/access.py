"""Which staff may see a case and act on it: the case workflow's rules for each staff role."""

from __future__ import annotations

from cases.models import Case
from cases.workflow import Action
from staff.models import Role, StaffUser
from staff.service import CENTER

#: The case actions each role may take (a unit's contact works only its own unit's cases).
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.SUPERVISOR: frozenset(Action),
    Role.DISPATCHER: frozenset(Action) - {Action.ACCEPT, Action.START},
    Role.UNIT: frozenset({Action.ACCEPT, Action.START, Action.RESOLVE}),
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
