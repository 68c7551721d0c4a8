"""The whole loop in one call's life: IVR → recording → case + SMS → recording stored →
dispatch → reminder and escalation (frozen clock) → unit feedback by phone → ready for survey."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.queries import case_by_call, timeline
from cases.workflow import CaseState
from config.settings import Settings
from core import jobs
from core.jobs import Job
from recordings import service as recordings
from recordings.models import RecordingState
from tests.support import TwilioSigner, call_params, gather_of, path_of, said, twiml
from tests.support.recordings import AUDIO, FakeTwilioMedia

PIN = "1002"  # city_management's demo PIN in config/units.yaml


def test_a_street_light_from_call_to_ready_for_survey(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    settings = dataclasses.replace(settings, twilio_api_base_url=media.base)
    app.extensions["hotline.settings"] = settings
    caller = call_params(settings)
    sid = caller["CallSid"]

    # The IVR understands, asks for details, records.
    door = twiml(twilio.post("/voice/incoming", caller))
    ask = twiml(
        twilio.post(
            path_of(gather_of(door).get("action") or ""),
            {**caller, "SpeechResult": "人民路的路灯坏了一个月了", "Confidence": "0.88"},
        )
    )
    record = ask.find("Record")
    assert record is not None
    recording_sid = "RE" + "c" * 32
    recording_url = media.url(settings.twilio_account_sid, recording_sid)
    twiml(
        twilio.post(
            path_of(record.get("action") or ""),
            {
                **caller,
                "RecordingSid": recording_sid,
                "RecordingUrl": recording_url,
                "RecordingDuration": "21",
                "Digits": "#",
            },
        )
    )
    case = case_by_call(db_session, sid)
    assert case is not None
    assert (case.state, case.unit_code) == (CaseState.DISPATCHED, "city_management")

    # Twilio reports the recording; the worker fetches and verifies it (texts go out too).
    status = {
        **caller,
        "RecordingSid": recording_sid,
        "RecordingUrl": recording_url,
        "RecordingStatus": "completed",
        "RecordingDuration": "21",
    }
    assert twilio.post("/voice/recording-status", status).status_code == 204
    jobs.run_due(app)
    stored = recordings.get(db_session, recording_sid)
    assert stored is not None and stored.state is RecordingState.STORED
    assert stored.sha256 == hashlib.sha256(AUDIO).hexdigest()

    # The clock moves: a reminder to the unit, then escalation to its supervisor.
    jobs.run_sweepers(app, now=case.remind_at)
    jobs.run_sweepers(app, now=case.due_at + dt.timedelta(minutes=5))
    keys = {
        k.split(":")[0] for k in db_session.scalars(select(Job.key).where(Job.kind == "sms.send"))
    }
    assert {"case-received", "case-dispatch", "case-remind", "case-escalate"} <= keys

    # The unit reports back by phone with the case number and its PIN.
    contact = call_params(settings, From="+8613805990702")
    root = twiml(twilio.post("/voice/units/incoming", contact))
    digits = case.number.replace("MS-", "").replace("-", "") + "#"
    for keyed in (digits, PIN + "#", "2"):
        root = twiml(
            twilio.post(path_of(gather_of(root).get("action") or ""), {**contact, "Digits": keyed})
        )
    result = root.find("Record")
    assert result is not None
    final = twiml(
        twilio.post(
            path_of(result.get("action") or ""),
            {**contact, "RecordingSid": "RE" + "d" * 32, "RecordingDuration": "40"},
        )
    )

    assert "已记录办结反馈" in " ".join(text for _, text in said(final))
    db_session.expire_all()  # the app changed the case in its own session
    done = case_by_call(db_session, sid)
    assert done is not None
    assert done.state is CaseState.RESOLVED, "ready for the callback survey"
    # (Reminder and escalation were stamped with the frozen clock, hence compare as a set.)
    assert sorted(e.action for e in timeline(db_session, done)) == sorted(
        ["receive", "dispatch", "remind", "escalate", "accept", "resolve"]
    )
