"""Status callbacks move a call forward only: duplicates and late arrivals change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from calls.models import CallDirection, CallStatus
from calls.service import events_for, get_call
from config.settings import Settings
from tests.support import TwilioSigner, call_params


def post_status(
    twilio: TwilioSigner, settings: Settings, sid: str, status: str, **extra: str
) -> None:
    response = twilio.post(
        "/voice/status", call_params(settings, CallSid=sid, CallStatus=status, **extra)
    )
    assert response.status_code == 204, response.get_data(as_text=True)


def test_a_call_moves_through_its_life(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    params = call_params(settings)
    sid = params["CallSid"]
    assert twilio.post("/voice/incoming", params).status_code == 200
    post_status(twilio, settings, sid, "in-progress")
    call = get_call(db_session, sid)
    assert call is not None and call.status is CallStatus.IN_PROGRESS
    assert call.ended_at is None

    post_status(twilio, settings, sid, "completed", CallDuration="73")
    call = get_call(db_session, sid)
    assert call is not None
    assert call.status is CallStatus.COMPLETED
    assert call.duration_s == 73
    assert call.ended_at is not None and call.ended_at >= call.created_at
    assert [e.route for e in events_for(db_session, sid)] == [
        "/voice/incoming",
        "/voice/status",
        "/voice/status",
    ]


@pytest.mark.parametrize("late", ["queued", "ringing", "in-progress", "busy", "completed"])
def test_a_late_or_duplicate_callback_never_moves_a_finished_call(
    twilio: TwilioSigner, settings: Settings, db_session: Session, late: str
) -> None:
    sid = call_params(settings)["CallSid"]
    post_status(twilio, settings, sid, "completed", CallDuration="40")
    post_status(twilio, settings, sid, late, CallDuration="99")

    call = get_call(db_session, sid)
    assert call is not None
    assert (call.status, call.duration_s) == (CallStatus.COMPLETED, 40)
    assert len(events_for(db_session, sid)) == 2, "both deliveries are logged"


def test_ringing_after_in_progress_is_ignored(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    sid = call_params(settings)["CallSid"]
    post_status(twilio, settings, sid, "in-progress")
    post_status(twilio, settings, sid, "ringing")
    call = get_call(db_session, sid)
    assert call is not None and call.status is CallStatus.IN_PROGRESS


def test_status_for_an_unseen_outbound_call_creates_it(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    sid = call_params(settings)["CallSid"]
    post_status(
        twilio,
        settings,
        sid,
        "no-answer",
        Direction="outbound-api",
        From=settings.hotline_number,
        To="+8613700137000",
    )
    call = get_call(db_session, sid)
    assert call is not None
    assert call.direction is CallDirection.OUTBOUND_API
    assert call.status is CallStatus.NO_ANSWER
    assert call.to_number == "+8613700137000"
