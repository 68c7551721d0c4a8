"""Service cases on both databases: numbering, intake, the closed loop, deadlines, CLI, units."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app import cli
from calls.models import AppendOnlyError
from cases import numbers, queries, service
from cases.cli import cases_cli
from cases.deadlines import CaseKind, due_at, remind_at
from cases.models import Case, CaseCounter, CaseEvent
from cases.queries import CaseNotFound
from cases.service import NoteRequired, UnknownUnit
from cases.units import (
    PinHash,
    Units,
    UnitsError,
    hash_pin,
    load_units,
    parse_units,
    unit_for,
    units_for_app,
)
from cases.workflow import (
    OPEN_STATES,
    TRANSITIONS,
    Action,
    CaseError,
    CaseState,
    IllegalTransition,
    allowed_actions,
    transition,
)
from config.settings import CONFIG_DIR, Settings
from core import migrate, sms
from core.db import make_engine
from tests.support.staff import CASE_PATHS

SHANGHAI = ZoneInfo("Asia/Shanghai")
NO_HOLIDAYS: dict[date, str] = {}
#: Monday 2 March 2026, 10:00 in Shanghai.
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
FAST = 1_000  # PBKDF2 rounds for test units: the tests check PINs, not the cost


# ------------------------------------------------------------------------------------ helpers


def units_doc() -> dict[str, Any]:
    return {
        "default_unit": "center",
        "units": [
            {
                "code": "center",
                "name": {"zh": "民生服务中心", "en": "Service center"},
                "kind": "department",
                "categories": ["consultation", "other"],
                "duty_contact": "13805998001",
                "supervisor": "13805998101",
                "pin": "0417",
            },
            {
                "code": "water",
                "name": {"zh": "自来水公司", "en": "Water company"},
                "kind": "provider",
                "categories": ["utilities"],
                "duty_contact": "13805998002",
                "supervisor": "+8613805998102",
                "pin": "20261125",
            },
            {
                "code": "power",
                "name": {"zh": "供电公司"},
                "kind": "provider",
                "categories": ["utilities", "housing"],
                "duty_contact": 13805998003,
                "supervisor": "13805998103",
                "pin": "5555",
            },
            {
                "code": "shuibei",
                "name": {"zh": "水北镇", "en": "Shuibei town"},
                "kind": "township",
                "duty_contact": "0599 6123456",
                "supervisor": "13805998104",
                "pin": "1234",
            },
        ],
    }


@pytest.fixture(scope="module")
def units() -> Units:
    return parse_units(units_doc(), "CN", iterations=FAST)


def new_case(
    session: Session,
    *,
    call_sid: str | None = "CA" + "1" * 32,
    category: str = "utilities",
    now: datetime = T0,
    **kwargs: Any,
) -> Case:
    values: dict[str, Any] = {
        "call_sid": call_sid,
        "category": category,
        "language": "zh",
        "caller_number": "+8613800138000",
        "caller_raw": "+8613800138000",
        "transcript": "我家停水了",
        "tz": SHANGHAI,
        "holidays": NO_HOLIDAYS,
        "now": now,
    }
    values.update(kwargs)
    return service.create_case(session, **values)


def sid(n: int) -> str:
    return f"CA{n:032x}"


def act(session: Session, case: Case, action: Action | str, units: Units, **kwargs: Any) -> Case:
    kwargs.setdefault("actor", "tester")
    kwargs.setdefault("units", units)
    kwargs.setdefault("tz", SHANGHAI)
    kwargs.setdefault("holidays", NO_HOLIDAYS)
    if Action(action) is Action.DISPATCH:
        kwargs.setdefault("unit_code", "water")
    if Action(action) in {Action.RESOLVE, Action.REOPEN}:
        kwargs.setdefault("note", f"{action} note")
    return service.apply(session, case.number, action, **kwargs)


def case_in(session: Session, state: CaseState, units: Units, **kwargs: Any) -> Case:
    case = new_case(session, **kwargs)
    for i, action in enumerate(CASE_PATHS[state], start=1):
        act(session, case, action, units, now=case.created_at + timedelta(minutes=i))
    assert case.state is state
    return case


def events(session: Session, case: Case) -> list[CaseEvent]:
    return queries.timeline(session, case)


# --------------------------------------------------------------------------- workflow (pure)

LEGAL = [(action, source) for action, rule in TRANSITIONS.items() for source in rule.sources]
ILLEGAL = [
    (action, state)
    for action, rule in TRANSITIONS.items()
    for state in CaseState
    if state not in rule.sources
]


@pytest.mark.parametrize(("action", "state"), LEGAL)
def test_legal_transitions(action: Action, state: CaseState) -> None:
    target = transition(state, action)
    assert target is (TRANSITIONS[action].target or state)
    assert action in allowed_actions(state)


@pytest.mark.parametrize(("action", "state"), ILLEGAL)
def test_illegal_transitions(action: Action, state: CaseState) -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(state, action)
    allowed = ", ".join(s.value for s in TRANSITIONS[action].sources)
    assert str(info.value) == (
        f"cannot {action.value} a case that is {state.value} (allowed from: {allowed})"
    )
    assert action not in allowed_actions(state)


def test_transition_table_in_words() -> None:
    with pytest.raises(IllegalTransition) as info:
        transition("received", "resolve")
    assert str(info.value) == (
        "cannot resolve a case that is received (allowed from: accepted, in_progress, "
        "handled_on_spot)"
    )
    assert transition("dispatched", "dispatch") is CaseState.DISPATCHED  # re-dispatch
    assert transition("closed", "reopen") is CaseState.REOPENED
    assert transition("reopened", "dispatch") is CaseState.DISPATCHED
    assert transition("in_progress", "escalate") is CaseState.IN_PROGRESS
    assert set(CaseState) - OPEN_STATES == {CaseState.RESOLVED, CaseState.CLOSED}
    for state in (CaseState.RESOLVED, CaseState.CLOSED):
        with pytest.raises(IllegalTransition, match=f"cannot escalate a case that is {state}"):
            transition(state, Action.ESCALATE)
    with pytest.raises(ValueError, match="fly"):
        transition("received", "fly")


# ------------------------------------------------------------------------------------ intake


def test_numbers_follow_the_local_day(db_session: Session) -> None:
    first = new_case(db_session, call_sid=sid(1))
    second = new_case(db_session, call_sid=sid(2), now=T0 + timedelta(hours=13))  # 23:00 local
    # 16:30 UTC on 2 March is 00:30 on 3 March in Shanghai: a new day, a new sequence.
    third = new_case(db_session, call_sid=sid(3), now=datetime(2026, 3, 2, 16, 30, tzinfo=UTC))
    fourth = new_case(db_session, call_sid=None, source="api")
    assert [first.number, second.number, third.number, fourth.number] == [
        "MS-20260302-0001",
        "MS-20260302-0002",
        "MS-20260303-0001",
        "MS-20260302-0003",
    ]
    counters = {c.day: c.last for c in db_session.scalars(select(CaseCounter))}
    assert counters[date(2026, 3, 2)] == 3
    assert counters[date(2026, 3, 3)] == 1
    assert numbers.format_number(date(2026, 3, 2), 12345) == "MS-20260302-12345"


def test_create_case_fields_deadline_and_receive_event(db_session: Session) -> None:
    case = new_case(db_session, category="market_regulation", recording_sid="RE" + "a" * 32)
    assert case.kind is CaseKind.COMPLAINT
    assert case.state is CaseState.RECEIVED
    assert case.source.value == "phone"
    assert case.created_at == case.updated_at == T0
    assert case.due_at == due_at(CaseKind.COMPLAINT, T0, SHANGHAI, NO_HOLIDAYS)
    assert case.remind_at == remind_at(case.due_at, T0)
    assert case.unit_code is None and case.reopen_count == 0 and not case.confidential
    assert case.recording_sid == "RE" + "a" * 32
    [event] = events(db_session, case)
    assert (event.action, event.from_state, event.to_state) == ("receive", None, "received")
    assert event.actor == "phone"
    assert event.data["kind"] == "complaint"
    # An explicit kind wins; holidays count.
    holidays = {date(2026, 3, 3): "test holiday"}
    other = new_case(db_session, call_sid=sid(9), kind="help", holidays=holidays)
    assert other.kind is CaseKind.HELP
    assert other.due_at == datetime(2026, 3, 6, 16, 0, tzinfo=UTC)  # end of Fri 6 March local


def test_create_case_is_idempotent_on_the_call(db_session: Session) -> None:
    first = new_case(db_session, call_sid=sid(7))
    again = new_case(db_session, call_sid=sid(7), category="housing", transcript="different")
    assert again.id == first.id
    assert again.category == "utilities"
    count = db_session.scalar(select(func.count()).select_from(Case).where(Case.call_sid == sid(7)))
    assert count == 1
    assert len(events(db_session, first)) == 1
    assert queries.case_by_call(db_session, sid(7)) is first
    # No number was used up by the repeat.
    assert new_case(db_session, call_sid=sid(8)).number == "MS-20260302-0002"
    # Cases without a call are never merged.
    a = new_case(db_session, call_sid=None, source="open311")
    b = new_case(db_session, call_sid=None, source="open311")
    assert a.id != b.id


def test_create_case_refuses_bad_input(db_session: Session) -> None:
    with pytest.raises(CaseError, match="category"):
        new_case(db_session, category="")
    with pytest.raises(ValueError, match="fax"):
        new_case(db_session, source="fax")
    with pytest.raises(ValueError, match="naive"):
        new_case(db_session, now=datetime(2026, 3, 2, 10, 0))  # noqa: DTZ001


# ------------------------------------------------------------------------ the closed loop


def test_every_legal_transition_is_applied_and_audited(db_session: Session, units: Units) -> None:
    """Each (action, state) of the table, on a case of its own (one test: the app is slow)."""
    later = T0 + timedelta(hours=5)
    for n, (action, state) in enumerate(LEGAL, start=1):
        where = f"{action} from {state}"
        case = case_in(db_session, state, units, call_sid=sid(n))
        before = len(events(db_session, case))
        re_dispatch = action is Action.DISPATCH and state is CaseState.DISPATCHED
        extra: dict[str, Any] = {"unit_code": "power"} if re_dispatch else {}
        result = act(
            db_session, case, action, units, note="说明", actor="cli:alice", now=later, **extra
        )
        assert result is case, where
        assert case.state is (TRANSITIONS[action].target or state), where
        assert case.updated_at == later, where
        timeline = events(db_session, case)
        assert len(timeline) == before + 1, where
        last = timeline[-1]
        assert (last.action, last.from_state, last.to_state) == (action, state, case.state), where
        assert (last.actor, last.note, last.at) == ("cli:alice", "说明", later), where
        stored = db_session.scalars(
            select(Case).where(Case.id == case.id).execution_options(populate_existing=True)
        ).one()
        assert stored.state is case.state, where


SOME_ILLEGAL = [
    (CaseState.RECEIVED, Action.RESOLVE),
    (CaseState.RECEIVED, Action.ACCEPT),
    (CaseState.RECEIVED, Action.CLOSE),
    (CaseState.DISPATCHED, Action.START),
    (CaseState.HANDLED_ON_SPOT, Action.DISPATCH),
    (CaseState.RESOLVED, Action.DISPATCH),
    (CaseState.CLOSED, Action.CLOSE),
    (CaseState.CLOSED, Action.ESCALATE),
    (CaseState.REOPENED, Action.RESOLVE),
]


def test_illegal_transitions_change_nothing(db_session: Session, units: Units) -> None:
    for n, (state, action) in enumerate(SOME_ILLEGAL, start=1):
        case = case_in(db_session, state, units, call_sid=sid(n))
        before = [(e.id, e.action) for e in events(db_session, case)]
        with pytest.raises(IllegalTransition, match=f"cannot {action} a case that is {state}"):
            act(db_session, case, action, units, note="x")
        assert case.state is state
        assert [(e.id, e.action) for e in events(db_session, case)] == before


def test_the_whole_loop(db_session: Session, units: Units) -> None:
    case = new_case(db_session)
    t = T0
    steps: list[tuple[Action, dict[str, Any]]] = [
        (Action.DISPATCH, {"unit_code": "water", "note": "请尽快处理"}),
        (Action.DISPATCH, {"unit_code": "power", "note": "是停电，不是停水"}),
        (Action.ACCEPT, {"actor": "unit:power"}),
        (Action.START, {"actor": "unit:power"}),
        (Action.RESOLVE, {"actor": "unit:power", "note": "已恢复供电"}),
        (Action.CLOSE, {"note": "回访：满意"}),
    ]
    for action, kwargs in steps:
        t += timedelta(hours=1)
        act(db_session, case, action, units, now=t, **kwargs)
    assert case.state is CaseState.CLOSED
    assert case.unit_code == "power"
    assert case.feedback == "已恢复供电"
    assert case.resolved_at == T0 + timedelta(hours=5)
    assert case.closed_at == T0 + timedelta(hours=6)
    timeline = events(db_session, case)
    assert [e.action for e in timeline] == [
        "receive",
        "dispatch",
        "dispatch",
        "accept",
        "start",
        "resolve",
        "close",
    ]
    assert timeline[2].data == {"unit": "power", "previous_unit": "water"}
    assert [e.to_state for e in timeline][-1] is CaseState.CLOSED


def test_on_the_spot(db_session: Session, units: Units) -> None:
    case = new_case(db_session, category="consultation")
    act(db_session, case, Action.HANDLE_ON_SPOT, units, note="电话里解答了办理流程")
    act(db_session, case, Action.RESOLVE, units, note="已答复")
    assert case.state is CaseState.RESOLVED and case.unit_code is None


def test_apply_checks_notes_units_and_numbers(db_session: Session, units: Units) -> None:
    case = case_in(db_session, CaseState.ACCEPTED, units)
    with pytest.raises(NoteRequired, match="resolve MS-20260302-0001: a note is required"):
        act(db_session, case, Action.RESOLVE, units, note="   ")
    fresh = new_case(db_session, call_sid=sid(2))
    with pytest.raises(UnknownUnit, match=r"unknown unit 'nope' \(units: center, water, power"):
        act(db_session, fresh, Action.DISPATCH, units, unit_code="nope")
    with pytest.raises(UnknownUnit, match="dispatch needs a unit"):
        act(db_session, fresh, Action.DISPATCH, units, unit_code="")
    with pytest.raises(UnknownUnit, match="no units given"):
        service.apply(db_session, fresh.number, "dispatch", actor="x", unit_code="water")
    act(db_session, fresh, Action.DISPATCH, units, unit_code="water")
    with pytest.raises(CaseError, match="already dispatched to water"):
        act(db_session, fresh, Action.DISPATCH, units, unit_code="water")
    with pytest.raises(CaseError, match="accept takes no unit"):
        act(db_session, fresh, Action.ACCEPT, units, unit_code="water")
    with pytest.raises(CaseError, match="unknown action 'fly'"):
        service.apply(db_session, fresh.number, "fly", actor="x")
    with pytest.raises(CaseNotFound, match="no case numbered 'MS-20990101-0001'"):
        service.apply(db_session, "MS-20990101-0001", Action.ACCEPT, actor="x")
    with pytest.raises(CaseNotFound, match="MS-20990101-0001"):
        queries.get_case(db_session, "MS-20990101-0001")
    with pytest.raises(CaseError, match="actor"):
        act(db_session, fresh, Action.ACCEPT, units, actor=" ")
    # None of the refusals left a trace.
    assert fresh.state is CaseState.DISPATCHED
    assert [e.action for e in events(db_session, fresh)] == ["receive", "dispatch"]


def test_reopen_counts_and_restarts_the_time_limit(db_session: Session, units: Units) -> None:
    case = case_in(db_session, CaseState.CLOSED, units)
    service.mark_reminded(db_session, case, now=T0 + timedelta(hours=1))
    service.mark_escalated(db_session, case.number, now=T0 + timedelta(hours=2))  # closed: no
    assert case.escalated_at is None
    reopened_at = datetime(2026, 3, 6, 7, 0, tzinfo=UTC)  # Friday 15:00 local
    act(db_session, case, Action.REOPEN, units, note="还是没水", now=reopened_at)
    assert case.state is CaseState.REOPENED
    assert case.reopen_count == 1
    assert case.due_at == datetime(2026, 3, 11, 16, 0, tzinfo=UTC)  # end of Wed 11 March
    assert case.remind_at == remind_at(case.due_at, reopened_at)
    assert case.reminded_at is None and case.resolved_at is None and case.closed_at is None
    last = events(db_session, case)[-1]
    assert (last.action, last.from_state, last.note) == ("reopen", CaseState.CLOSED, "还是没水")
    assert last.data["previous_due_at"] < last.data["due_at"]
    act(db_session, case, Action.DISPATCH, units)
    act(db_session, case, Action.ACCEPT, units)
    act(db_session, case, Action.RESOLVE, units, note="换了水表")
    with pytest.raises(TypeError, match="tz and holidays"):
        act(db_session, case, Action.REOPEN, units, tz=None)
    act(db_session, case, Action.REOPEN, units, note="又坏了", now=reopened_at)
    assert case.reopen_count == 2
    act(db_session, case, Action.HANDLE_ON_SPOT, units)
    act(db_session, case, Action.RESOLVE, units, note="ok")
    with pytest.raises(NoteRequired, match="the caller's reason"):
        act(db_session, case, Action.REOPEN, units, note="")
    assert [e.action for e in events(db_session, case)].count("reopen") == 2


def test_the_audit_log_is_append_only(db_session: Session, units: Units) -> None:
    case = new_case(db_session)
    [event] = events(db_session, case)
    event.note = "rewritten"
    with pytest.raises(AppendOnlyError, match="append-only"):
        db_session.flush()
    db_session.rollback()


# ------------------------------------------------------------------ supervision (督办)


def test_reminders_escalations_and_overdue(db_session: Session, units: Units) -> None:
    help_case = new_case(db_session, call_sid=sid(1))  # due end of Thu 5 March local
    consult = new_case(db_session, call_sid=sid(2), category="consultation")  # end of Tue 3rd
    done = case_in(db_session, CaseState.RESOLVED, units, call_sid=sid(3))
    assert consult.due_at == datetime(2026, 3, 3, 16, 0, tzinfo=UTC)

    assert queries.due_for_reminder(db_session, T0) == []
    at_reminder = consult.remind_at
    assert queries.due_for_reminder(db_session, at_reminder) == [consult]
    assert service.mark_reminded(db_session, consult, now=at_reminder) is True
    assert service.mark_reminded(db_session, consult.number, now=at_reminder) is False
    assert consult.reminded_at == at_reminder
    assert queries.due_for_reminder(db_session, at_reminder) == []
    remind = events(db_session, consult)[-1]
    assert (remind.action, remind.actor, remind.from_state, remind.to_state) == (
        "remind",
        "system",
        CaseState.RECEIVED,
        CaseState.RECEIVED,
    )

    # Past the consultation's deadline: it is overdue, to be escalated (not reminded).
    late = consult.due_at
    assert queries.due_for_escalation(db_session, late - timedelta(seconds=1)) == []
    assert queries.due_for_escalation(db_session, late) == [consult]
    assert queries.list_cases(db_session, overdue=True, now=late) == [consult]
    not_overdue = queries.list_cases(db_session, overdue=False, now=late)
    assert {c.number for c in not_overdue} == {help_case.number, done.number}
    assert service.mark_escalated(db_session, consult, now=late, note="超时") is True
    assert service.mark_escalated(db_session, consult, now=late) is False
    assert queries.due_for_escalation(db_session, late) == []
    escalate = events(db_session, consult)[-1]
    assert (escalate.action, escalate.note, escalate.to_state) == (
        "escalate",
        "超时",
        CaseState.RECEIVED,
    )
    assert escalate.data["overdue_s"] == 0

    # Much later everything open is overdue; the resolved case never is.
    much_later = T0 + timedelta(days=30)
    assert queries.due_for_escalation(db_session, much_later) == [help_case]
    assert queries.due_for_reminder(db_session, much_later) == []  # overdue: escalate instead
    assert {c.number for c in queries.list_cases(db_session, overdue=True, now=much_later)} == {
        help_case.number,
        consult.number,
    }
    assert service.mark_escalated(db_session, done, now=much_later) is False


def test_manual_escalation_is_audited_and_counts(db_session: Session, units: Units) -> None:
    case = case_in(db_session, CaseState.IN_PROGRESS, units)
    at = T0 + timedelta(hours=3)
    act(db_session, case, Action.ESCALATE, units, note="领导督办", now=at)
    assert case.state is CaseState.IN_PROGRESS and case.escalated_at == at
    act(db_session, case, Action.ESCALATE, units, now=at + timedelta(hours=1))
    assert case.escalated_at == at  # the first escalation is kept
    assert queries.due_for_escalation(db_session, T0 + timedelta(days=30)) == []


def test_list_cases_filters(db_session: Session, units: Units) -> None:
    received = new_case(db_session, call_sid=sid(1))
    water = case_in(db_session, CaseState.DISPATCHED, units, call_sid=sid(2))
    power = case_in(db_session, CaseState.DISPATCHED, units, call_sid=sid(3))
    act(db_session, power, Action.DISPATCH, units, unit_code="power")
    newest = new_case(db_session, call_sid=sid(4), now=T0 + timedelta(minutes=5))
    assert queries.list_cases(db_session) == [newest, power, water, received]
    assert queries.list_cases(db_session, state="dispatched") == [power, water]
    assert queries.list_cases(db_session, state=CaseState.RECEIVED) == [newest, received]
    assert queries.list_cases(db_session, unit="power") == [power]
    assert queries.list_cases(db_session, unit="water", state="received") == []
    assert queries.list_cases(db_session, limit=2) == [newest, power]


# ------------------------------------------------------------------------------ concurrency


def _run_threads(count: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


@pytest.fixture
def committed_sessions(empty_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit, on a database of their own (migrated to head)."""
    migrate.upgrade(migrate.alembic_config(url=empty_url))
    engine = make_engine(empty_url, pool_size=8) if "postgresql" in empty_url else None
    engine = engine or make_engine(empty_url)
    try:
        yield sessionmaker(engine, expire_on_commit=False)
    finally:
        engine.dispose()


def test_numbers_are_unique_under_concurrency(
    committed_sessions: sessionmaker[Session],
) -> None:
    day = date(2026, 3, 2)
    allocated: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def allocate(_: int) -> None:
        barrier.wait()
        for _ in range(15):
            with committed_sessions() as session:
                number = numbers.allocate_number(session, day)
                session.commit()
            with lock:
                allocated.append(number)

    _run_threads(4, allocate)
    assert sorted(allocated) == [f"MS-20260302-{n:04d}" for n in range(1, 61)]


def test_one_call_makes_one_case_under_concurrency(
    committed_sessions: sessionmaker[Session],
) -> None:
    numbers: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def intake(_: int) -> None:
        barrier.wait()
        with committed_sessions() as session:
            case = new_case(session, call_sid=sid(42))
            session.commit()
        with lock:
            numbers.append(case.number)

    _run_threads(4, intake)
    assert len(set(numbers)) == 1
    with committed_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
        assert session.scalar(select(func.count()).select_from(CaseEvent)) == 1


# ------------------------------------------------------------------------------------- CLI


def run(app: Flask, *args: str) -> Result:
    if "cases" not in app.cli.commands:
        app.cli.add_command(cases_cli)
    return CliRunner().invoke(cli, ["cases", *args], obj=ScriptInfo(create_app=lambda: app))


def stored(db_session: Session, number: str) -> Case:
    return db_session.scalars(
        select(Case).where(Case.number == number).execution_options(populate_existing=True)
    ).one()


def test_cli_walks_the_loop(app: Flask, db_session: Session) -> None:
    case = new_case(db_session, now=datetime.now(UTC))
    db_session.commit()
    number = case.number

    result = run(app, "dispatch", number, "water_supply", "--note", "请上门查看")
    assert result.exit_code == 0, result.output
    assert f"{number}: dispatched to water_supply 自来水公司" in result.output
    for args, state in (
        (["dispatch", number, "power_supply"], "dispatched"),
        (["accept", number, "--actor", "unit:power_supply"], "accepted"),
        (["start", number], "in_progress"),
        (["escalate", number, "--note", "催办"], "in_progress"),
        (["resolve", number, "--note", "已修复"], "resolved"),
        (["close", number], "closed"),
        (["reopen", number, "--note", "又停水了"], "reopened"),
        (["handle", number, "--note", "电话答复"], "handled_on_spot"),
    ):
        result = run(app, *args)
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"{number}: {state}"), result.output
        assert stored(db_session, number).state == state
    after = stored(db_session, number)
    assert after.unit_code == "power_supply" and after.reopen_count == 1
    actors = [e.actor for e in queries.timeline(db_session, after)]
    assert "unit:power_supply" in actors
    assert all(a.startswith("cli") for a in actors[1:] if a != "unit:power_supply")

    shown = run(app, "show", number)
    assert shown.exit_code == 0, shown.output
    expected = [number, "handled_on_spot", "+8613800138000", "我家停水了", "power_supply"]
    expected += ["timeline:", "receive", "已修复", "又停水了", "reopened:    1 time(s)"]
    for text in expected:
        assert text in shown.output, (text, shown.output)


def test_cli_show_says_what_became_of_the_cases_texts(
    app: Flask, db_session: Session, settings: Settings
) -> None:
    case = new_case(db_session, now=datetime.now(UTC))
    configured = dataclasses.replace(settings, twilio_api_base_url="http://127.0.0.1:9")
    for key, to in (("case-received", "+8613800138000"), ("case-dispatch", "+865996123456")):
        sms.schedule_sms(
            db_session,
            key=f"{key}:{case.number}",
            to=to,
            body="x",
            case_number=case.number,
            settings=configured,
        )
    row = sms.messages_of_case(db_session, case.number)[0]
    sms.advance(db_session, row.id, "undelivered", sid="SM" + "3" * 32, error_code="30005")
    db_session.commit()

    shown = run(app, "show", case.number)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.split("texts:")[1].splitlines()[1:]
    assert "case-received" in lines[0] and "undelivered (error 30005)" in lines[0]
    assert "case-dispatch" in lines[1] and "refused  not a mobile number" in lines[1]


def test_cli_list(app: Flask, db_session: Session) -> None:
    now = datetime.now(UTC)
    fresh = new_case(db_session, call_sid=sid(1), now=now)
    old = new_case(db_session, call_sid=sid(2), now=now - timedelta(days=30))
    db_session.commit()
    result = run(app, "list")
    assert result.exit_code == 0, result.output
    assert fresh.number in result.output and old.number in result.output
    overdue = run(app, "list", "--overdue")
    assert old.number in overdue.output and fresh.number not in overdue.output
    assert "OVERDUE" in overdue.output
    assert "no cases" in run(app, "list", "--state", "closed").output
    assert "no cases" in run(app, "list", "--unit", "water_supply").output
    bad = run(app, "list", "--state", "lost")
    assert bad.exit_code == 2 and "'lost' is not one of" in bad.output


def test_cli_errors_exit_1_and_change_nothing(app: Flask, db_session: Session) -> None:
    case = new_case(db_session, now=datetime.now(UTC))
    db_session.commit()
    number = case.number
    for args, message in (
        (["show", "MS-20990101-0001"], "no case numbered 'MS-20990101-0001'"),
        (["close", "MS-20990101-0001"], "no case numbered 'MS-20990101-0001'"),
        (["close", number], "cannot close a case that is received (allowed from: resolved)"),
        (
            ["resolve", number, "--note", "done"],
            "cannot resolve a case that is received (allowed from: accepted, in_progress, "
            "handled_on_spot)",
        ),
        (["dispatch", number, "nowhere"], "unknown unit 'nowhere' (units: service_center"),
        (["reopen", number, "--note", "x"], "cannot reopen a case that is received"),
    ):
        result = run(app, *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
    run(app, "dispatch", number, "housing")
    run(app, "accept", number)
    result = run(app, "resolve", number, "--note", "  ")
    assert result.exit_code == 1 and "a note is required" in result.output
    missing = run(app, "resolve", number)
    assert missing.exit_code == 2 and "--note" in missing.output
    assert stored(db_session, number).state is CaseState.ACCEPTED
    assert [e.action for e in queries.timeline(db_session, stored(db_session, number))] == [
        "receive",
        "dispatch",
        "accept",
    ]


def test_cli_pin_hash() -> None:
    result = CliRunner().invoke(cases_cli, ["pin-hash"], input="4321\n4321\n")
    assert result.exit_code == 0, result.output
    printed = result.output.strip().splitlines()[-1]
    assert PinHash.parse(printed).check("4321")
    bad = CliRunner().invoke(cases_cli, ["pin-hash"], input="12\n12\n")
    assert bad.exit_code == 1 and "4 to 8 digits" in bad.output


# ------------------------------------------------------------------------------------ units


def test_demo_units_file(app: Flask) -> None:
    units = units_for_app(app)
    assert units_for_app(app) is units
    assert load_units(CONFIG_DIR / "units.yaml", "CN", iterations=FAST).units.keys() == (
        units.units.keys()
    )
    assert len(units) >= 10
    assert units.default.code == "service_center"
    kinds = {u.kind for u in units}
    assert kinds == {"department", "township", "team", "provider"}
    assert unit_for(units, "utilities").code == "water_supply"
    assert unit_for(units, "market_regulation").name_zh == "市场监管局"
    assert unit_for(units, "fire").code == "service_center"  # nobody lists it: the default
    assert units["shuibei_town"].kind == "township"
    for unit in units:
        assert unit.duty_contact.startswith("+861380599")
        assert unit.supervisor.startswith("+861380599")
    assert units["service_center"].check_pin("1001")
    assert not units["service_center"].check_pin("1002")


def test_units_keep_no_plain_pin(units: Units) -> None:
    water = units["water"]
    assert water.check_pin("20261125")
    assert not water.check_pin("2026112")
    assert not water.check_pin("abcd")
    assert "20261125" not in repr(water)
    assert "20261125" not in repr(vars(water)) and "20261125" not in str(water.pin_hash)
    # Same PIN, different salt: different hashes.
    assert str(units["shuibei"].pin_hash) != str(hash_pin("1234", iterations=FAST))
    assert units["power"].name_en == "供电公司"  # no English name: the Chinese one
    assert units["power"].duty_contact == "+8613805998003"  # unquoted: YAML gave an int
    assert units["shuibei"].duty_contact == "+865996123456"  # a national landline number
    assert units["shuibei"].categories == ()
    assert unit_for(units, "housing").code == "power"
    assert unit_for(units, "utilities").code == "water"  # the first unit listing it
    assert unit_for(units, "transport").code == "center"


def test_pin_hash_in_the_file(units: Units) -> None:
    doc = units_doc()
    hashed = hash_pin("8642", iterations=FAST)
    doc["units"][1].pop("pin")
    doc["units"][1]["pin_hash"] = str(hashed)
    loaded = parse_units(doc, "CN", iterations=FAST)
    assert loaded["water"].check_pin("8642")
    assert loaded["water"].pin_hash == hashed


def _with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = units_doc()
    change(doc)
    return doc


def _set(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["units"][index][key] = value

    return change


def _drop(index: int, key: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["units"][index].pop(key)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(1, "duty_contact", "12345"), "units[1] (water 自来水公司): duty_contact: not a"),
        (_drop(1, "supervisor"), "units[1] (water 自来水公司): supervisor: missing"),
        (_set(2, "kind", "bureau"), "units[2] (power 供电公司): kind: must be one of department, "),
        (_set(1, "categories", ["water"]), "units[1] (water 自来水公司): categories[0]: unknown"),
        (_set(1, "categories", "utilities"), "categories: must be a list of category ids"),
        (_set(1, "categories", ["utilities"] * 2), "categories[1]: 'utilities' is listed twice"),
        (_set(1, "pin", "12"), "units[1] (water 自来水公司): pin: must be 4 to 8 digits"),
        (_set(1, "pin", "123456789"), "pin: must be 4 to 8 digits"),
        (_set(1, "pin", "12a4"), "pin: must be 4 to 8 digits"),
        (_set(1, "pin", 1234), 'pin: must be quoted text of 4 to 8 digits, e.g. pin: "0417"'),
        (_drop(1, "pin"), "units[1] (water 自来水公司): pin: give exactly one of pin"),
        (_set(1, "pin_hash", "x"), "pin: give exactly one of pin (4 to 8 digits) or pin_hash"),
        (_set(1, "colour", "blue"), "units[1] (water 自来水公司): unknown field 'colour'"),
        (_set(1, "code", "center"), "units[1] (center): code: duplicate of units[0]"),
        (_set(1, "code", "has space"), "units[1]: code: 1 to 32 letters"),
        (_set(1, "code", True), "units[1]: code: YAML read True as true/false; quote it"),
        (_drop(1, "code"), "units[1]: code: missing"),
        (_set(1, "name", "水"), "units[1] (water): name: must be a mapping"),
        (_set(1, "name", {"en": "Water"}), "units[1] (water): name.zh: missing"),
        (lambda d: d.update(default_unit="nobody"), "default_unit: unknown unit 'nobody'"),
        (lambda d: d.pop("default_unit"), "default_unit: missing"),
        (lambda d: d.update(units=[]), "units: at least one unit is required"),
        (lambda d: d.update(units={"a": 1}), "units: must be a list of units"),
        (lambda d: d.update(extra=1), "units file: unknown field 'extra'"),
        (lambda d: d["units"].append("text"), "units[4]: must be a mapping"),
    ],
)
def test_units_file_errors_name_entry_and_field(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(UnitsError) as info:
        parse_units(_with(change), "CN", iterations=FAST)
    assert message in str(info.value)


def test_units_pin_errors_never_show_the_pin() -> None:
    with pytest.raises(UnitsError) as info:
        parse_units(_with(_set(1, "pin", "12a45")), "CN", iterations=FAST)
    assert "12a45" not in str(info.value)


def test_bad_pin_hash() -> None:
    doc = units_doc()
    doc["units"][1].pop("pin")
    doc["units"][1]["pin_hash"] = "md5$1$00$00"
    with pytest.raises(UnitsError, match=r"units\[1\] \(water 自来水公司\): pin_hash: expected"):
        parse_units(doc, "CN", iterations=FAST)


def test_load_units_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "units.yaml"
    path.write_text(yaml.safe_dump(_with(_set(0, "kind", "club")), allow_unicode=True), "utf-8")
    with pytest.raises(UnitsError, match=rf"^{path}: units\[0\] \(center 民生服务中心\): kind"):
        load_units(path, "CN", iterations=FAST)
    path.write_text("units: [", "utf-8")
    with pytest.raises(UnitsError, match="not valid YAML"):
        load_units(path, "CN")
    with pytest.raises(UnitsError, match="cannot read"):
        load_units(tmp_path / "missing.yaml", "CN")
    # Unquoted, YAML 1.1 reads the PIN 0417 as the octal number 271: refused, not mangled.
    text = yaml.safe_dump(units_doc(), allow_unicode=True).replace("'0417'", "0417")
    path.write_text(text, "utf-8")
    with pytest.raises(UnitsError, match="pin: must be quoted"):
        load_units(path, "CN", iterations=FAST)


def test_a_dispatcher_corrects_the_category_with_an_audited_event(
    app: Flask, db_session: Session
) -> None:
    case = service.create_case(
        db_session,
        call_sid="CA" + "9" * 32,
        category="other",
        language="zh",
        caller_number=None,
        caller_raw="anonymous",
        transcript="那个…",
        tz=ZoneInfo("Asia/Shanghai"),
        holidays={},
    )
    changed = service.recategorize(
        db_session, case.number, "housing", actor="cli:dispatcher1", note="物业问题"
    )
    assert changed.category == "housing"
    event = queries.timeline(db_session, changed)[-1]
    assert (event.action, event.actor, event.data) == (
        "recategorize",
        "cli:dispatcher1",
        {"from": "other", "to": "housing"},
    )
    with pytest.raises(CaseError, match="unknown category 'pizza'"):
        service.recategorize(db_session, case.number, "pizza", actor="cli:dispatcher1")
