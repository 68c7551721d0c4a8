"""A call to the hotline number: signed webhook in, TwiML out, call and event rows written."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calls.models import Call, CallDirection, CallEvent, CallStatus
from calls.service import events_for, get_call
from config.settings import Settings
from tests.support import CALLER, TwilioSigner, call_params, said, twiml


def test_signed_incoming_call_is_greeted_in_mandarin_then_english(
    twilio: TwilioSigner, settings: Settings
) -> None:
    root = twiml(twilio.post("/voice/incoming", call_params(settings)))

    speech = said(root)
    assert [language for language, _ in speech] == ["cmn-CN", "en-US"]
    assert "民生110" in speech[0][1]
    assert speech[1][1] == "For English, press 9."


def test_incoming_call_is_recorded_with_e164_numbers_and_utc_time(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    params = call_params(settings)
    before = dt.datetime.now(dt.UTC)
    twiml(twilio.post("/voice/incoming", params))

    call = get_call(db_session, params["CallSid"])
    assert call is not None
    assert call.from_number == CALLER
    assert call.to_number == settings.hotline_number
    assert call.direction is CallDirection.INBOUND
    assert call.status is CallStatus.RINGING
    assert call.created_at.tzinfo is not None
    assert call.created_at.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=1) <= call.created_at <= dt.datetime.now(dt.UTC)


def test_every_parameter_of_the_webhook_is_logged(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    params = call_params(settings, SomeFutureTwilioParameter="x y z", CallerCity="邵武")
    twiml(twilio.post("/voice/incoming", params))

    (event,) = events_for(db_session, params["CallSid"])
    assert event.route == "/voice/incoming"
    assert event.params == params
    assert event.received_at.tzinfo is not None


def test_twilio_retry_keeps_one_call_and_logs_both_deliveries(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    params = call_params(settings)
    headers = {"I-Twilio-Idempotency-Token": "retry-token-1"}
    first = twiml(twilio.post("/voice/incoming", params, headers=headers))
    second = twiml(twilio.post("/voice/incoming", params, headers=headers))

    assert said(first) == said(second)
    count = db_session.scalar(
        select(func.count()).select_from(Call).where(Call.call_sid == params["CallSid"])
    )
    assert count == 1
    events = events_for(db_session, params["CallSid"])
    assert [e.idempotency_token for e in events] == ["retry-token-1", "retry-token-1"]


def test_withheld_caller_id_is_still_answered_and_kept_raw(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    params = call_params(settings, From="anonymous", Caller="anonymous")
    root = twiml(twilio.post("/voice/incoming", params))

    assert said(root), "a caller with a withheld number hears the greeting too"
    call = get_call(db_session, params["CallSid"])
    assert call is not None
    assert call.from_number is None
    assert call.from_raw == "anonymous"


def test_unusable_caller_number_is_answered_not_refused(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    params = call_params(settings, From="+86123")
    twiml(twilio.post("/voice/incoming", params))

    call = get_call(db_session, params["CallSid"])
    assert call is not None
    assert (call.from_number, call.from_raw) == (None, "+86123")


def test_rows_are_committed_not_just_flushed(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    params = call_params(settings)
    twiml(twilio.post("/voice/incoming", params))
    db_session.rollback()  # only what the request committed survives this

    assert (
        db_session.scalar(
            select(func.count())
            .select_from(CallEvent)
            .where(CallEvent.call_sid == params["CallSid"])
        )
        == 1
    )
