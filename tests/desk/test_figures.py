"""The desk's figures (desk.figures): answered within 15 s over every wait that ended, the
answered callers' average and p90 wait, abandonment, call-backs of missed calls completed, and
calls answered per call-taker — exactly, for a day built in the database; nothing for an empty
one; the same in the API and the CSV export; and the figures page's card in both languages."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from desk import service as desk
from desk.figures import CallBack, StateChange, Wait, desk_figures, occupancy, p90, summarise
from desk.models import QueueEntry, QueueResult, TakerState, TakerStateChange
from routing.models import CallbackKind, CallbackTask
from staff.models import Role
from tests.console.test_language import untranslated
from tests.support.staff import add_user, bearer, login, token_for

DAY = dt.date(2026, 3, 2)
PERIOD = {"from": DAY.isoformat(), "to": DAY.isoformat()}
#: Answered: (seconds waited, by whom). Six within 15 s; one without Twilio's QueueTime.
ANSWERED: list[tuple[int | None, str]] = [
    (3, "alice"),
    (5, "alice"),
    (8, "alice"),
    (10, "alice"),
    (12, "alice"),
    (15, "alice"),
    (16, "bob"),
    (20, "bob"),
    (30, "bob"),
    (45, "bob"),
    (None, "bob"),
]

#: What the API says of that day: 16 joined, one still talking, 15 ended.
EXPECTED: dict[str, Any] = {
    "entries": 16,
    "waiting": 1,
    "ended": 15,
    "answered": 11,
    "abandoned": 2,
    "callbacks_asked": 1,
    "failed": 1,
    "answered_within_15_s": 6,
    "share_within_15_s": 6 / 15,
    "target_share": 0.95,
    "answer_rate": 11 / 15,
    "abandon_rate": 2 / 15,
    "wait_avg_s": 16.4,  # (3+5+8+10+12+15+16+20+30+45) / 10: the one without a QueueTime is out
    "wait_p90_s": 30.0,  # the 9th of 10
    "callbacks": {
        "tasks": 5,
        "closed": 4,
        "reached": 2,
        "closed_rate": 0.8,
        "reached_rate": 0.4,
    },
    "per_taker": [
        {"username": "alice", "answered": 6, "share": 6 / 11},
        {"username": "bob", "answered": 5, "share": 5 / 11},
    ],
    "occupancy": [],
}

#: Call SIDs of the rows made here.
_SIDS = itertools.count()

EMPTY: dict[str, Any] = {
    "entries": 0,
    "waiting": 0,
    "ended": 0,
    "answered": 0,
    "abandoned": 0,
    "callbacks_asked": 0,
    "failed": 0,
    "answered_within_15_s": 0,
    "share_within_15_s": None,
    "target_share": 0.95,
    "answer_rate": None,
    "abandon_rate": None,
    "wait_avg_s": None,
    "wait_p90_s": None,
    "callbacks": {"tasks": 0, "closed": 0, "reached": 0, "closed_rate": None, "reached_rate": None},
    "per_taker": [],
    "occupancy": [],
}


def _local(app: Flask, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    tz = app.extensions["hotline.settings"].tz
    return dt.datetime.combine(day, dt.time(hour, minute), tz)


def _period(app: Flask, day: dt.date = DAY) -> tuple[dt.datetime, dt.datetime]:
    return _local(app, day, 0), _local(app, day + dt.timedelta(days=1), 0)


def _entry(
    db_session: Session,
    at: dt.datetime,
    result: QueueResult,
    wait_s: int | None = None,
    answered_by: str | None = None,
) -> None:
    n = next(_SIDS)
    db_session.add(
        QueueEntry(
            call_sid=f"CA{n:032d}",
            queue="desk",
            language="zh",
            caller_number=None,
            enqueued_at=at,
            left_at=None if result is QueueResult.WAITING else at + dt.timedelta(minutes=5),
            result=result,
            wait_s=wait_s,
            answered_by=answered_by,
        )
    )
    db_session.flush()


def _task(
    db_session: Session, at: dt.datetime, kind: CallbackKind, outcome: str | None = None
) -> None:
    n = next(_SIDS)
    db_session.add(
        CallbackTask(
            call_sid=f"CB{n:032d}",
            kind=kind,
            priority=1,
            caller_number="+8613800138000",
            route="desk",
            language="zh",
            created_at=at,
            outcome=outcome,
            closed_at=None if outcome is None else at + dt.timedelta(hours=1),
            note="",
            attempts=0 if outcome is None else 1,
        )
    )
    db_session.flush()


@pytest.fixture
def a_day(app: Flask, db_session: Session) -> None:
    """DAY's queue and call-back tasks, and some just outside it."""
    at = _local(app, DAY, 10)
    for wait_s, who in ANSWERED:
        _entry(db_session, at, QueueResult.BRIDGED, wait_s, who)
    _entry(db_session, at, QueueResult.HANGUP, 40)
    _entry(db_session, at, QueueResult.HANGUP, 8)
    _entry(db_session, at, QueueResult.CALLBACK, 60)
    _entry(db_session, at, QueueResult.FAILED)
    # Talking to alice now: Twilio reports a bridged wait when the call ends.
    _entry(db_session, _local(app, DAY, 23, 59), QueueResult.WAITING, None, "alice")
    # Outside the period: the evening before, and the next day's first minute.
    before, after = _local(app, DAY, 0) - dt.timedelta(minutes=1), _period(app)[1]
    _entry(db_session, before, QueueResult.BRIDGED, 2, "carol")
    _entry(db_session, after, QueueResult.HANGUP, 90)

    _task(db_session, at, CallbackKind.ABANDONED_QUEUE, "reached")
    _task(db_session, at, CallbackKind.QUEUE_CALLBACK)  # still open
    _task(db_session, at, CallbackKind.ABANDONED_IVR, "not_needed")
    _task(db_session, at, CallbackKind.ABANDONED_BRIDGE, "reached")
    _task(db_session, at, CallbackKind.UNANSWERED, "no_answer")
    # The same number again while its task is open: grouped with it, not a call-back of its own.
    _task(db_session, at, CallbackKind.ABANDONED_QUEUE, "grouped")
    _task(db_session, before, CallbackKind.ABANDONED_QUEUE, "reached")
    _task(db_session, after, CallbackKind.ABANDONED_QUEUE)
    db_session.commit()


# --------------------------------------------------------------------------- the figures


def test_each_desk_figure_of_a_day(app: Flask, db_session: Session, a_day: None) -> None:
    found = desk_figures(db_session, *_period(app))
    assert found.as_dict() == EXPECTED
    assert found.below_target and found.answer_rate_below_target
    assert found.callback_reached_rate == 0.4 and found.callback_closed_rate == 0.8


def test_an_empty_period_has_counts_of_zero_and_no_rates(
    app: Flask, db_session: Session, a_day: None
) -> None:
    found = desk_figures(db_session, *_period(app, DAY + dt.timedelta(days=10)))
    assert found.as_dict() == EMPTY
    assert not found.below_target and not found.answer_rate_below_target
    assert found.csv_rows()[:2] == [("desk", "entries", "0"), ("desk", "waiting", "0")]


def test_the_share_within_15_s_counts_every_wait_that_ended() -> None:
    """A caller who gave up, asked for a call-back or was never queued was not answered within
    15 s; one answered at exactly 15 s was; a wait not yet ended is not counted at all."""
    found = summarise(
        [
            Wait(QueueResult.BRIDGED, 15, "alice"),
            Wait(QueueResult.BRIDGED, 16, "alice"),
            Wait(QueueResult.HANGUP, 3, None),
            Wait(QueueResult.CALLBACK, 12, None),
            Wait(QueueResult.FAILED, None, None),
            Wait(QueueResult.WAITING, None, "bob"),
        ],
        [CallBack(closed=True, outcome="wrong_number")],
    )
    assert (found.ended, found.answered_within_15_s, found.share_within_15_s) == (5, 1, 0.2)
    assert found.wait_avg_s == 15.5 and found.wait_p90_s == 16.0
    assert [(k.username, k.answered, k.share) for k in found.per_taker] == [("alice", 2, 1.0)]
    assert (found.callbacks_closed, found.callbacks_reached) == (1, 0)
    everyone_fast = summarise([Wait(QueueResult.BRIDGED, 1, "alice")] * 20, [])
    assert everyone_fast.share_within_15_s == 1.0 and not everyone_fast.below_target


def test_the_p90_is_the_nearest_rank() -> None:
    assert p90([]) is None
    assert p90([7]) == 7.0
    assert p90(list(range(1, 11))) == 9.0  # of 10, the 9th
    assert p90(list(range(1, 21))) == 18.0
    assert p90([1, 2, 3, 4, 100]) == 100.0  # of 5, the 5th: 4 of 5 is only 80%


# ------------------------------------------------------------------------ API and export


def test_the_api_serves_the_desk_figures(
    app: Flask, client: FlaskClient, db_session: Session, a_day: None
) -> None:
    boss = token_for(db_session, add_user(db_session, "boss", Role.SUPERVISOR))
    body = client.get("/api/v1/figures", query_string=PERIOD, headers=bearer(boss)).get_json()
    assert body["desk"] == EXPECTED
    later = {"from": "2026-04-01", "to": "2026-04-07"}
    body = client.get("/api/v1/figures", query_string=later, headers=bearer(boss)).get_json()
    assert body["desk"] == EMPTY


def test_the_csv_export_has_the_desk_figures(
    app: Flask, client: FlaskClient, db_session: Session, a_day: None
) -> None:
    add_user(db_session, "boss", Role.SUPERVISOR)
    login(client, "boss")
    lines = client.get("/console/figures.csv", query_string=PERIOD).get_data(as_text=True)
    rows = lines.lstrip("\ufeff").splitlines()
    for row in (
        "desk,entries,16",
        "desk,answered_within_15_s,6",
        "desk,share_within_15_s,0.4",
        "desk,wait_avg_s,16.4",
        "desk,wait_p90_s,30",
        "desk_callbacks,reached_rate,0.4",
        "desk_answered_by,alice,6",
        "desk_answered_by,bob,5",
    ):
        assert row in rows


# ------------------------------------------------------------------------------ the page


def _card(page: str) -> str:
    found = re.search(r'<section class="card" id="desk-figures">.*?</section>', page, re.S)
    assert found is not None
    return found.group(0)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.parametrize(
    ("lang", "shown"),
    [
        (
            "zh",
            [
                "人工接听",
                "40% 15 秒内接通 （6/15） · 目标 ≥ 95% ⚠ 低于目标",
                "接通率 73.3% （11/15）",
                "接听前等待：平均 16.4 秒 · 90% 在 30 秒",
                "中途挂断率 13.3% （2/15）",
                "已接通 11 · 排队时挂断 2 · 排队中选择回电 1 · 未能排队（直接转接） 1",
                "已联系上 40.0% （2/5） · 已处理 80.0% （4/5）",
                "各接线员接听数",
            ],
        ),
        (
            "en",
            [
                "Call-takers",
                "40% answered within 15 s (6/15) · target ≥ 95% ⚠ below target",
                "Answer rate 73.3% (11/15)",
                "Wait before answer: average 16.4 s · 90th percentile 30 s",
                "Abandon rate 13.3% (2/15)",
                "Answered 11 · Hung up in the queue 2 · Asked for a call-back in the queue 1",
                "Reached 40.0% (2/5) · closed 80.0% (4/5)",
                "Calls answered per call-taker",
            ],
        ),
    ],
)
def test_the_figures_page_shows_the_call_takers_card(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    a_day: None,
    lang: str,
    shown: list[str],
) -> None:
    add_user(db_session, "boss", Role.SUPERVISOR)
    add_user(db_session, "alice", Role.DISPATCHER)
    login(client, "boss")
    page = client.get("/console/figures", query_string={**PERIOD, "lang": lang})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    card = _card(html)
    for text in shown:
        assert text in _text(card), (text, _text(card))
    # The chart: one bar per call-taker, most calls first, their names not translated.
    labels = re.findall(r'<text [^>]*class="label" translate="no">([^<]*)</text>', card)
    assert labels == ["alice", "bob"]
    values = re.findall(r'<text [^>]*class="value">([^<]*)</text>', card)
    assert values == ["6", "5"]
    assert untranslated(html, lang) == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_empty_period_shows_the_card_with_nothing(
    app: Flask, client: FlaskClient, db_session: Session, lang: str
) -> None:
    add_user(db_session, "boss", Role.SUPERVISOR)
    login(client, "boss")
    html = client.get("/console/figures", query_string={**PERIOD, "lang": lang})
    card = _text(_card(html.get_data(as_text=True)))
    title, none = ("人工接听", "无") if lang == "zh" else ("Call-takers", "none")
    assert card.startswith(title) and card.count(none) == 4  # the occupancy table's empty row too
    assert untranslated(html.get_data(as_text=True), lang) == []


def _at(hh: int, mm: int) -> dt.datetime:
    return dt.datetime(2026, 12, 1, hh, mm, tzinfo=dt.UTC)


def test_occupancy_is_time_on_calls_and_wrap_up_over_time_signed_in() -> None:
    changes = [
        StateChange("li", TakerState.AVAILABLE, _at(9, 0)),  # before the period: its start state
        StateChange("li", TakerState.ON_CALL, _at(10, 10)),
        StateChange("li", TakerState.WRAP_UP, _at(10, 20)),
        StateChange("li", TakerState.AVAILABLE, _at(10, 21)),  # a minute's wrap-up: 30 s count
        StateChange("li", TakerState.LOGGED_OUT, _at(10, 40)),
        StateChange("wang", TakerState.ON_CALL, _at(10, 40)),
        StateChange("wang", TakerState.WRAP_UP, _at(10, 50)),  # never pressed done
        StateChange("zhao", TakerState.LOGGED_OUT, _at(9, 0)),
    ]
    li, wang = occupancy(changes, _at(10, 0), _at(11, 0), wrap_up_s=30)
    assert (li.username, li.signed_in_s, li.busy_s) == ("li", 2400, 630)
    assert li.share == pytest.approx(630 / 2400)
    assert (wang.signed_in_s, wang.busy_s) == (1200, 630), "wrap-up counts 30 s at most"


def test_every_state_change_is_logged_and_measured(app: Flask, db_session: Session) -> None:
    desk.set_state(db_session, "li", TakerState.AVAILABLE, phone="+8613805990601")
    desk.set_state(db_session, "li", TakerState.BREAK)
    db_session.commit()
    states = db_session.scalars(
        select(TakerStateChange.state)
        .where(TakerStateChange.username == "li")
        .order_by(TakerStateChange.id)
    ).all()
    assert states == [TakerState.AVAILABLE, TakerState.BREAK]
    now = utcnow()
    figures = desk_figures(
        db_session, now - dt.timedelta(hours=1), now + dt.timedelta(hours=1), now=now
    )
    (li,) = figures.occupancy
    assert li.username == "li" and li.busy_s == 0
    assert figures.as_dict()["occupancy"][0]["username"] == "li"
