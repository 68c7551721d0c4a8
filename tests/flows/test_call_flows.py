"""Whole emergency calls through the softphone, which plays Twilio's documented semantics.

Twilio's docs leave open whether the other legs of a <Dial> keep ringing while one officer is
being screened, so every flow here passes both ways (`screening` exclusive and parallel).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from core.alerts import Alert
from core.db import database
from routing import store
from routing.models import BridgeAttempt, CallbackTask
from routing.rosterfile import parse_roster
from tests.support import CALLER, TEST_AUTH_TOKEN, app_in_transaction
from tests.support.routing import FIRE, POLICE, ROSTER
from tools.softphone import CallResult, FlaskTransport, Softphone
from tools.softphone_twiml import Screening

SCREENING = pytest.mark.parametrize("screening", ["exclusive", "parallel"])
BYOC = "BY" + "fedcba9876543210" * 2
SIP_OFFICER = "sip:p1@pbx.shaowu.example.cn"


def _store_roster(app: Flask, raw: dict[str, Any]) -> None:
    settings: Settings = app.extensions["hotline.settings"]
    with database(app).sessions() as session:
        store.save_roster(session, parse_roster(raw, settings.default_region))
        session.commit()


@pytest.fixture
def hotline(app: Flask) -> Flask:
    _store_roster(app, ROSTER)
    return app


def call(
    app: Flask, inputs: Sequence[str], *, screening: Screening = "exclusive", caller: str = CALLER
) -> CallResult:
    settings: Settings = app.extensions["hotline.settings"]
    return Softphone(
        transport=FlaskTransport(app.test_client()),
        public_base_url=settings.public_base_url,
        auth_token=TEST_AUTH_TOKEN,
        account_sid=settings.twilio_account_sid,
        from_number=caller,
        to_number=settings.hotline_number,
        inputs=list(inputs),
        output_func=lambda _line: None,
        screening=screening,
    ).run()


def _heard(result: CallResult) -> str:
    return "\n".join(result.transcript)


def _attempts(app: Flask, call_sid: str) -> list[BridgeAttempt]:
    with database(app).sessions() as session:
        return list(store.attempts(session, call_sid))


@SCREENING
def test_an_officer_who_presses_pound_takes_the_emergency(
    hotline: Flask, screening: Screening
) -> None:
    result = call(hotline, ["1", "officer:#"], screening=screening)
    assert result.exit_code == 0, _heard(result)
    assert "(the officer presses #)" in _heard(result)
    assert "connected: the caller and the officer are talking" in _heard(result)
    (attempt,) = _attempts(hotline, result.call_sid)
    assert attempt.outcome == "connected"
    assert attempt.accepted_at is not None


@SCREENING
def test_a_voicemail_that_answers_first_never_takes_the_emergency(
    hotline: Flask, screening: Screening
) -> None:
    """The first phone to answer presses nothing (a voicemail box); a person takes it next."""
    result = call(
        hotline,
        ["say:我家着火了", "officer:none", "officer:1", "officer:1"],
        screening=screening,
    )
    assert result.exit_code == 0, _heard(result)
    attempts = _attempts(hotline, result.call_sid)
    assert attempts[-1].outcome == "connected"
    assert attempts[-1].answered_phone != FIRE[0], "the voicemail box never takes it"
    if screening == "parallel":  # the second fire officer's phone answers in the same <Dial>
        assert [(a.tier, a.answered_phone) for a in attempts] == [(0, FIRE[1])]
    else:  # the <Dial> ends when the first answerer declines: the next tier rings
        assert [(a.tier, a.outcome) for a in attempts] == [(0, "no-answer"), (1, "connected")]
    assert all(a.ended_at is not None or a.outcome == "connected" for a in attempts)


@SCREENING
def test_a_caller_who_hangs_up_while_phones_ring_is_an_abandoned_emergency(
    hotline: Flask, screening: Screening, db_session: Session
) -> None:
    result = call(hotline, ["1", "dial:hangup"], screening=screening)
    assert result.exit_code == 0, _heard(result)
    assert _heard(result).count("☎ dialing") == 1, "no next tier rings for a caller who left"
    (attempt,) = _attempts(hotline, result.call_sid)
    assert attempt.outcome == "abandoned"
    assert attempt.ended_at is not None
    alerts = db_session.scalars(select(Alert).where(Alert.call_sid == result.call_sid)).all()
    assert [a.priority for a in alerts] == [0]
    (task,) = db_session.scalars(
        select(CallbackTask).where(CallbackTask.call_sid == result.call_sid)
    ).all()
    assert (task.priority, task.caller_number, task.closed_at) == (0, CALLER, None)


def test_when_nobody_answers_and_the_caller_says_nothing_they_hear_the_truth(
    hotline: Flask, db_session: Session
) -> None:
    result = call(hotline, ["1", "dial:no-answer", "dial:busy", "silence"])
    heard = _heard(result)
    assert result.exit_code == 0, heard
    assert "empty recording" in heard
    assert "没有听到您的留言。值班人员会尽快回拨您" in heard
    assert "已收到您的留言" not in heard
    (task,) = db_session.scalars(
        select(CallbackTask).where(CallbackTask.call_sid == result.call_sid)
    ).all()
    assert (task.kind.value, task.priority, task.caller_number) == ("unanswered", 0, CALLER)


def test_a_hidden_number_is_never_promised_a_call_back(hotline: Flask) -> None:
    result = call(hotline, ["1", "dial:no-answer", "dial:busy", "silence"], caller="anonymous")
    heard = _heard(result)
    assert "您的号码没有显示，我们无法回拨" in heard
    assert "无法回拨隐藏的号码" in heard
    assert "回拨您" not in heard


def _app_with(settings: Settings, roster: dict[str, Any], **changes: Any) -> Iterator[Flask]:
    with app_in_transaction(dataclasses.replace(settings, **changes)) as app:
        _store_roster(app, roster)
        yield app


def test_officers_are_rung_through_the_byoc_trunk_or_over_sip(settings: Settings) -> None:
    roster: dict[str, Any] = copy.deepcopy(ROSTER)
    roster["officers"][0]["phone"] = SIP_OFFICER
    for app in _app_with(settings, roster, twilio_byoc_trunk_sid=BYOC):
        result = call(app, ["1", "officer:5"])
        heard = _heard(result)
        assert result.exit_code == 0, heard
        assert f"{SIP_OFFICER} (SIP)" in heard
        assert f"{POLICE[1]} (via BYOC trunk {BYOC})" in heard
        assert "connected: the caller and the officer are talking" in heard
