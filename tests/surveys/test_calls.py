"""Survey calls end to end: dialled through Twilio's API contract (Prism), answered by webhooks,
retried, paced, and acted on — a negative answer reopens the case, anything else closes it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException

from calls.models import Call, CallStatus
from cases.queries import timeline
from cases.workflow import CaseState
from config.settings import CONFIG_DIR, DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, Settings
from core import jobs, twilio_rest
from core.alerts import Alert
from core.db import utcnow
from core.jobs import Job, JobState
from core.voice import load_languages
from surveys import attempts, detection, dialer
from surveys.models import (
    CaseSurvey,
    SurveyAnswer,
    SurveyAttempt,
    SurveyOptOut,
    SurveyOutcome,
    SurveyState,
)
from tests.support import CALLER, TwilioSigner, call_params, gather_of, reason, twiml
from tests.support.surveys import (
    FIRST_CALL,
    RESOLVED_AT,
    SHANGHAI,
    Clock,
    Posted,
    amd,
    answer,
    call_requests,
    callee,
    hangups,
    heard,
    placed,
    resolved_case,
    respond,
    status,
    sweep,
    the_case,
    the_survey,
)
from tools import twilio_mock

# ------------------------------------------------------------------------------------ dialling


def test_a_resolved_case_gets_one_call_as_twilio_expects_it(
    app: Flask, db_session: Session, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)

    (request,) = call_requests(calls)
    form = request.data
    assert request.method == "POST"
    assert form["To"] == [CALLER]
    assert form["From"] == ["+865996110110"]
    assert form["MachineDetection"] == ["Enable"]
    # Detection in the background: the question plays at once, the result comes to /amd.
    assert form["AsyncAmd"] == ["true"]
    assert form["AsyncAmdStatusCallback"] == [
        f"https://hotline.example.org/voice/survey/amd?s={survey.id}&a=1"
    ]
    assert form["AsyncAmdStatusCallbackMethod"] == ["POST"]
    assert form["TimeLimit"] == ["300"], "config/survey.yaml's time_limit_s"
    assert form["Timeout"] == ["25"]
    assert "Byoc" not in form, "no BYOC trunk configured"
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert form["Url"] == [f"https://hotline.example.org/voice/survey/answer?s={survey.id}&a=1"]
    assert form["StatusCallback"] == [
        f"https://hotline.example.org/voice/survey/status?s={survey.id}&a=1"
    ]
    (attempt,) = db_session.scalars(select(SurveyAttempt)).all()
    assert attempt.call_sid is not None and attempt.call_sid.startswith("CA"), "Prism's answer"
    assert (survey.attempts, survey.first_attempt_at) == (1, FIRST_CALL)

    for _ in range(3):  # more sweeps, more workers, the same job pushed again: no second call
        sweep(app, clock, clock.at + dt.timedelta(minutes=2))
    assert len(call_requests(calls)) == 1
    assert the_case(db_session, number).state is CaseState.RESOLVED, "waits for the answers"


def test_a_byoc_trunk_carries_the_survey_call(
    app: Flask, db_session: Session, calls: list[Posted], clock: Clock
) -> None:
    trunk = "BY" + "0123456789abcdef" * 2
    settings = app.extensions["hotline.settings"]
    app.extensions["hotline.settings"] = dataclasses.replace(settings, twilio_byoc_trunk_sid=trunk)
    placed(app, db_session, clock)

    (request,) = call_requests(calls)
    assert request.data["Byoc"] == [trunk]
    (attempt,) = db_session.scalars(select(SurveyAttempt)).all()
    assert attempt.call_sid is not None, "Prism took it: the spec allows Byoc"


def test_without_twilio_no_survey_call_is_attempted(
    app: Flask, db_session: Session, calls: list[Posted], clock: Clock
) -> None:
    settings = app.extensions["hotline.settings"]
    bare = dataclasses.replace(
        settings,
        twilio_api_base_url=None,
        twilio_account_sid=DEV_ACCOUNT_SID,
        twilio_auth_token=DEV_AUTH_TOKEN,
    )
    assert not twilio_rest.configured(bare)
    app.extensions["hotline.settings"] = bare
    number = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    assert sweep(app, clock).get("deferred") == 1

    assert call_requests(calls) == []
    survey = the_survey(db_session, number)
    assert (survey.state, survey.attempts) == (SurveyState.SCHEDULED, 0), "no attempt used up"


def test_nothing_is_dialled_outside_calling_hours(
    app: Flask, db_session: Session, calls: list[Posted], clock: Clock
) -> None:
    number = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    survey = the_survey(db_session, number)
    late = dt.datetime(2026, 11, 24, 20, 30, tzinfo=SHANGHAI)
    # A survey that became due in hours but was not dialled in time (the workers were down).
    sweep(app, clock, late)

    assert call_requests(calls) == []
    survey = the_survey(db_session, number)
    assert survey.state is SurveyState.SCHEDULED
    assert survey.due_at == dt.datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)
    job = db_session.scalar(select(Job).where(Job.kind == dialer.DIAL))
    assert job is not None and (job.state, job.attempts) == (JobState.PENDING, 0), "deferred"

    sweep(app, clock, dt.datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI))
    assert len(call_requests(calls)) == 1


def test_a_number_that_opts_out_before_the_call_is_never_dialled(
    app: Flask, db_session: Session, calls: list[Posted], clock: Clock
) -> None:
    number = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    jobs.run_sweepers(app, clock())  # queued for dialling...
    db_session.add(SurveyOptOut(number=CALLER, at=clock(), source="desk"))
    db_session.commit()  # ...then the caller tells the desk: no more calls
    sweep(app, clock)

    assert call_requests(calls) == []
    survey = the_survey(db_session, number)
    assert (survey.state, survey.note) == (SurveyState.CANCELLED, "the number opted out of surveys")


# ---------------------------------------------------------------------------------- answering


def test_a_satisfied_caller_closes_the_case(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)

    first = answer(twilio, survey)
    gather = gather_of(first)
    assert gather.get("input") == "dtmf speech"
    assert "您反映的问题解决了吗" in heard(first)
    second = respond(twilio, first, survey, Digits="1")
    assert "满意吗" in heard(second)
    end = respond(twilio, second, survey, SpeechResult="非常满意，谢谢", Confidence="0.9")

    assert "感谢您的配合" in heard(end)
    assert end.find("Hangup") is not None
    answers = db_session.scalars(select(SurveyAnswer).order_by(SurveyAnswer.id)).all()
    assert [(a.question, a.value, a.via) for a in answers] == [
        ("resolved", "yes", "dtmf"),
        ("satisfaction", "5", "speech"),
    ]
    survey = the_survey(db_session, number)
    assert (survey.state, survey.outcome, survey.negative) == (
        SurveyState.COMPLETED,
        SurveyOutcome.ANSWERED,
        False,
    )
    case = the_case(db_session, number)
    assert case.state is CaseState.CLOSED
    assert timeline(db_session, case)[-1].note == "回访：已解决；满意度 5 分（5 分最满意）"

    status(twilio, survey, 1, "completed", CallDuration="48")  # the call ends afterwards
    assert the_case(db_session, number).state is CaseState.CLOSED


def test_an_unsatisfied_answer_reopens_the_case_and_alerts_the_supervisor(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)

    root = answer(twilio, survey)
    root = respond(twilio, root, survey, SpeechResult="没有解决")
    root = respond(twilio, root, survey, Digits="1")
    assert "还有什么问题" in heard(root), "a negative answer asks for a comment"
    assert gather_of(root).get("input") == "speech"
    end = respond(twilio, root, survey, SpeechResult="路灯还是不亮，晚上很黑")

    assert "重新办理" in heard(end)
    case = the_case(db_session, number)
    assert (case.state, case.reopen_count, case.unit_code) == (
        CaseState.DISPATCHED,
        1,
        "city_management",
    )
    reopen = next(e for e in timeline(db_session, case) if e.action == "reopen")
    assert reopen.actor == "survey"
    assert reopen.note == "回访：未解决；满意度 1 分（5 分最满意）；意见：路灯还是不亮，晚上很黑"
    assert reopen.data["survey"] == {
        "state": "completed",
        "outcome": "answered",
        "resolved": False,
        "score": "1",
        "comment": "路灯还是不亮，晚上很黑",
    }, "what the survey found, for the timeline to say in the reader's language"
    redo = [e for e in timeline(db_session, case) if e.action == "dispatch"][-1]
    assert (redo.actor, redo.data["survey_redo"]) == ("survey", True)
    alert = db_session.scalar(select(Alert).where(Alert.kind == f"reopen:{number}"))
    assert alert is not None and alert.priority == 1
    texts = db_session.scalars(select(Job.key).where(Job.kind == "sms.send")).all()
    assert f"case-reopen:{number}:1" in texts, "the unit's supervisor gets a text"


def test_partial_answers_are_kept_when_the_caller_hangs_up(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    root = answer(twilio, survey)
    respond(twilio, root, survey, Digits="2")  # not resolved — and the caller hangs up
    status(twilio, survey, 1, "completed", CallDuration="11")

    (kept,) = db_session.scalars(select(SurveyAnswer)).all()
    assert (kept.question, kept.value, kept.positive) == ("resolved", "no", False)
    survey = the_survey(db_session, number)
    assert (survey.state, survey.negative) == (SurveyState.COMPLETED, True)
    assert the_case(db_session, number).state is CaseState.DISPATCHED, "reopened, redone"


def test_silence_gets_one_re_ask_then_the_survey_moves_on(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    _, survey = placed(app, db_session, clock)
    root = answer(twilio, survey)
    again = respond(twilio, root, survey)  # silence
    assert heard(again).startswith("抱歉，没有听清。")
    assert "您反映的问题解决了吗" in heard(again)
    unclear = respond(twilio, again, survey, SpeechResult="嗯……这个嘛")
    assert "满意吗" in heard(unclear), "after one re-ask, the next question"
    assert db_session.scalars(select(SurveyAnswer)).all() == []


def test_the_opt_out_key_ends_the_survey_for_good(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    root = answer(twilio, survey)
    end = respond(twilio, root, survey, Digits="9")

    assert "今后不再给您打回访电话" in heard(end)
    assert db_session.get(SurveyOptOut, CALLER) is not None
    survey = the_survey(db_session, number)
    assert (survey.state, survey.outcome) == (SurveyState.COMPLETED, SurveyOutcome.OPTED_OUT)
    assert the_case(db_session, number).state is CaseState.CLOSED


def test_an_english_caller_is_surveyed_in_english(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number = resolved_case(app, db_session, language="en")
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    sweep(app, clock)
    survey = the_survey(db_session, number)
    root = answer(twilio, survey)
    assert gather_of(root).get("language") == "en-US"
    assert "Was your problem resolved?" in heard(root)
    root = respond(twilio, root, survey, SpeechResult="Yes, it is fixed")
    end = respond(twilio, root, survey, SpeechResult="not satisfied")
    assert "handled again" in heard(respond(twilio, end, survey, SpeechResult="It took too long"))


# ------------------------------------------------------------------------------------ retries


def test_machine_no_answer_and_busy_are_retried_then_given_up(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)

    first = answer(twilio, survey)  # no AnsweredBy: detection runs in the background
    assert "您反映的问题解决了吗" in heard(first), "the question at once, no silence"
    # The voicemail greeting is taken for an answer ("是" means yes)...
    respond(twilio, first, survey, SpeechResult="您好，我是机主，现在不方便接听", Confidence="0.8")
    assert len(db_session.scalars(select(SurveyAnswer)).all()) == 1
    # ...until detection says a machine: its "answer" is dropped, the call is ended by a job.
    response = amd(twilio, survey, 1, "machine_start", MachineDetectionDuration="2100")
    assert response.status_code == 204
    assert db_session.scalars(select(SurveyAnswer)).all() == []
    assert hangups(calls) == [], "never a REST call inside the webhook"
    assert sweep(app, clock).get("done") == 1
    (hangup,) = hangups(calls)
    (row,) = db_session.scalars(select(SurveyAttempt)).all()
    assert hangup.url.endswith(f"/Calls/{row.call_sid}.json") and row.answered_by == "machine_start"
    status(twilio, survey, 1, "completed", CallDuration="9")
    survey = the_survey(db_session, number)
    assert (survey.state, survey.note) == (SurveyState.SCHEDULED, "attempt 1: an answering machine")
    # Three attempts over 48 hours: the second 16 hours after the first, in calling hours.
    assert survey.due_at == dt.datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)

    sweep(app, clock, survey.due_at)
    status(twilio, survey, 2, "no-answer")
    survey = the_survey(db_session, number)
    assert (survey.state, survey.attempts) == (SurveyState.SCHEDULED, 2)
    assert survey.due_at == FIRST_CALL + dt.timedelta(hours=32)

    sweep(app, clock, survey.due_at)
    status(twilio, survey, 3, "busy")

    survey = the_survey(db_session, number)
    assert (survey.state, survey.attempts) == (SurveyState.UNREACHABLE, 3)
    assert len(call_requests(calls)) == 3
    statuses = db_session.scalars(select(SurveyAttempt.status).order_by(SurveyAttempt.attempt))
    assert list(statuses) == ["completed", "no-answer", "busy"]
    case = the_case(db_session, number)
    assert case.state is CaseState.CLOSED
    assert "回访未接通" in timeline(db_session, case)[-1].note
    sweep(app, clock, clock.at + dt.timedelta(days=3))
    assert len(call_requests(calls)) == 3, "given up means given up"


def test_a_machine_gets_no_more_questions_and_never_completes_the_survey(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    root = answer(twilio, survey)
    assert amd(twilio, survey, 1, "machine_end_beep").status_code == 204
    for said_nothing in range(6):  # the hang-up job has not run yet: the machine keeps going
        after = respond(twilio, root, survey, Digits="1")
        assert [el.tag for el in after] == ["Hangup"], f"reply {said_nothing}: only a hang-up"
    assert db_session.scalars(select(SurveyAnswer)).all() == []
    assert the_survey(db_session, number).state is SurveyState.DIALING, "the attempt goes on"
    assert amd(twilio, survey, 1, "machine_end_beep").status_code == 204  # delivered twice
    sweep(app, clock)
    assert len(hangups(calls)) == 1, "one hang-up"
    status(twilio, survey, 1, "completed")
    assert the_survey(db_session, number).note == "attempt 1: an answering machine"
    assert the_case(db_session, number).state is CaseState.RESOLVED, "not closed by a machine"


@pytest.mark.parametrize("verdict", ["human", "unknown"])
def test_a_person_or_an_unsure_detection_changes_nothing(
    app: Flask,
    db_session: Session,
    twilio: TwilioSigner,
    calls: list[Posted],
    clock: Clock,
    verdict: str,
) -> None:
    number, survey = placed(app, db_session, clock)
    root = answer(twilio, survey)
    root = respond(twilio, root, survey, Digits="1")
    assert amd(twilio, survey, 1, verdict).status_code == 204
    end = respond(twilio, root, survey, Digits="5")
    assert "感谢您的配合" in heard(end)
    sweep(app, clock)
    assert hangups(calls) == []
    (row,) = db_session.scalars(select(SurveyAttempt)).all()
    assert row.answered_by == verdict
    assert [a.value for a in db_session.scalars(select(SurveyAnswer))] == ["yes", "5"]
    assert the_case(db_session, number).state is CaseState.CLOSED


def test_a_person_who_answers_before_detection_reports_is_a_person(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    root = answer(twilio, survey, AnsweredBy="machine_start")  # ignored on the answer webhook
    respond(twilio, root, survey, Digits="1")
    status(twilio, survey, 1, "completed", CallDuration="12")  # hung up; no detection result
    survey = the_survey(db_session, number)
    assert (survey.state, survey.outcome) == (SurveyState.COMPLETED, SurveyOutcome.ANSWERED)
    late = amd(twilio, survey, 1, "machine_start")  # detection's late word changes nothing
    assert late.status_code == 204
    sweep(app, clock)
    assert hangups(calls) == []
    assert the_case(db_session, number).state is CaseState.CLOSED


def test_a_pick_up_without_an_answer_or_a_verdict_is_tried_again(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    answer(twilio, survey)
    status(twilio, survey, 1, "completed", CallDuration="2")
    survey = the_survey(db_session, number)
    assert (survey.state, survey.note) == (
        SurveyState.SCHEDULED,
        "attempt 1: hung up before answering",
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"AnsweredBy": "robot"}, "AnsweredBy"),
        ({"AnsweredBy": ""}, "AnsweredBy: missing"),
        ({"AccountSid": "AC" + "f" * 32}, "not this hotline's"),
        ({"CallSid": "CA123"}, "CallSid"),
    ],
)
def test_a_malformed_detection_result_is_refused_and_nothing_is_written(
    app: Flask,
    db_session: Session,
    twilio: TwilioSigner,
    calls: list[Posted],
    clock: Clock,
    change: dict[str, str],
    why: str,
) -> None:
    _, survey = placed(app, db_session, clock)
    params = {**callee(survey), "AnsweredBy": "machine_start", **change}
    response = twilio.post(f"/voice/survey/amd?s={survey.id}&a=1", params)
    assert response.status_code == 400
    assert why in reason(response)
    (row,) = db_session.scalars(select(SurveyAttempt)).all()
    assert row.answered_by is None
    assert db_session.scalars(select(Job).where(Job.kind == detection.HANGUP)).all() == []


def test_a_detection_result_for_no_survey_on_the_line_is_answered(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    _, survey = placed(app, db_session, clock)
    for query in ("s=999999&a=1", f"s={survey.id}&a=7", ""):
        path = "/voice/survey/amd" + (f"?{query}" if query else "")
        params = {**callee(survey), "AnsweredBy": "machine_start"}
        assert twilio.post(path, params).status_code == 204
    assert db_session.scalars(select(Job).where(Job.kind == detection.HANGUP)).all() == []


class RefusingCalls:
    """A Twilio client whose call update fails as given."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.updates: list[str] = []

    def calls(self, sid: str) -> RefusingCalls:
        self.updates.append(sid)
        return self

    def update(self, **kwargs: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (TwilioRestException(400, "/Calls/CA.json", "Call is not in-progress", code=21220), "done"),
        (TwilioRestException(404, "/Calls/CA.json", "not found", code=20404), "done"),
        (TwilioRestException(503, "/Calls/CA.json", "Service Unavailable"), "retry"),
        (TimeoutError("read timed out"), "retry"),
    ],
)
def test_a_hang_up_on_a_call_already_over_is_done_an_outage_retried(
    app: Flask,
    db_session: Session,
    twilio: TwilioSigner,
    calls: list[Posted],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    outcome: str,
) -> None:
    _, survey = placed(app, db_session, clock)
    answer(twilio, survey)
    amd(twilio, survey, 1, "fax")
    fake = RefusingCalls(error)
    monkeypatch.setattr(twilio_rest, "client", lambda settings: fake)
    job_id = db_session.scalar(select(Job.id).where(Job.kind == detection.HANGUP))
    assert job_id is not None
    database, settings = app.extensions["hotline.db"], app.extensions["hotline.settings"]
    assert jobs.run_job(database, settings, job_id, now=utcnow()) == outcome
    assert len(fake.updates) == 1


def test_every_call_status_twilio_documents_is_taken(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    status(twilio, survey, 1, "initiated")
    (row,) = db_session.scalars(select(SurveyAttempt)).all()
    assert row.status == "initiated", "an outbound call's first callback"
    for call_status in ("queued", "initiated", "ringing", "in-progress"):
        status(twilio, survey, 1, call_status)
    db_session.expire_all()
    assert db_session.scalars(select(SurveyAttempt.status)).one() == "in-progress"
    bad = twilio.post(
        f"/voice/survey/status?s={survey.id}&a=1", {**callee(survey), "CallStatus": "exploded"}
    )
    assert bad.status_code == 400 and "CallStatus" in reason(bad)
    for final in attempts.FINAL:  # each documented final status is accepted (204)
        status(twilio, survey, 1, final)
    assert the_survey(db_session, number).state is not SurveyState.DIALING


def test_the_status_list_is_twilios() -> None:
    spec = json.loads(twilio_mock.spec_path().read_text(encoding="utf-8"))
    documented = set(spec["components"]["schemas"]["call_enum_status"]["enum"])
    # The spec's Call resource lacks `initiated`, which status callbacks do send.
    assert set(attempts.CALL_STATUSES) == documented | {"initiated"}


def test_the_general_status_callback_takes_initiated(
    twilio: TwilioSigner, settings: Settings, db_session: Session
) -> None:
    params = call_params(settings, CallStatus="initiated", Direction="outbound-api")
    assert twilio.post("/voice/status", params).status_code == 204
    call = db_session.scalar(select(Call).where(Call.call_sid == params["CallSid"]))
    assert call is not None and call.status is CallStatus.INITIATED
    assert twilio.post("/voice/status", {**params, "CallStatus": "ringing"}).status_code == 204
    db_session.expire_all()
    assert db_session.scalar(select(Call.status).where(Call.call_sid == params["CallSid"])) is (
        CallStatus.RINGING
    )


def test_the_survey_speaks_and_listens_as_the_ivr_configuration_says(
    app: Flask,
    db_session: Session,
    twilio: TwilioSigner,
    calls: list[Posted],
    clock: Clock,
    tmp_path: Path,
) -> None:
    doc = yaml.safe_load((CONFIG_DIR / "ivr.yaml").read_text(encoding="utf-8"))
    doc["languages"]["zh"].update(voice="Polly.Zhiyu-Neural", speech_language="zh")
    ivr_file = tmp_path / "ivr.yaml"
    ivr_file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    app.extensions["hotline.languages"] = load_languages(ivr_file)
    _, survey = placed(app, db_session, clock)

    root = answer(twilio, survey)
    gather = gather_of(root)
    assert gather.get("language") == "zh", "the IVR's speech_language, not a constant"
    voices = {(el.get("language"), el.get("voice")) for el in root.iter("Say")}
    assert voices == {("cmn-CN", "Polly.Zhiyu-Neural")}


def test_the_shipped_survey_listens_in_twilios_mandarin(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    _, survey = placed(app, db_session, clock)
    gather = gather_of(answer(twilio, survey))
    assert gather.get("language") == app.extensions["hotline.languages"]["zh"].speech_language
    assert gather.get("language") != "zh-CN", "not a <Gather language> Twilio defines"


def test_duplicated_and_reordered_callbacks_change_nothing(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    status(twilio, survey, 1, "ringing")
    root = answer(twilio, survey)
    second = respond(twilio, root, survey, Digits="1")
    again = respond(twilio, root, survey, Digits="2")  # Twilio retries the first answer...
    assert ET.tostring(again) == ET.tostring(second), "...and gets the same next question"
    end = respond(twilio, second, survey, Digits="4")
    assert end.find("Hangup") is not None

    def snapshot() -> tuple[object, ...]:
        db_session.expire_all()
        return (
            [(a.question, a.value) for a in db_session.scalars(select(SurveyAnswer))],
            [(s.state, s.attempts, s.outcome) for s in db_session.scalars(select(CaseSurvey))],
            [(a.status, a.duration_s) for a in db_session.scalars(select(SurveyAttempt))],
            the_case(db_session, number).state,
            len(timeline(db_session, the_case(db_session, number))),
        )

    status(twilio, survey, 1, "completed", CallDuration="40")
    before = snapshot()
    status(twilio, survey, 1, "completed", CallDuration="40")  # duplicated
    status(twilio, survey, 1, "ringing")  # late
    status(twilio, survey, 1, "busy")  # nonsense after the end
    respond(twilio, second, survey, Digits="1")  # a late retry of the last answer
    assert snapshot() == before
    assert before[0] == [("resolved", "yes"), ("satisfaction", "4")]
    assert before[3] is CaseState.CLOSED


def test_a_webhook_for_an_old_attempt_changes_nothing(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    status(twilio, survey, 1, "no-answer")
    sweep(app, clock, the_survey(db_session, number).due_at)  # attempt 2 is on the line
    stale = answer(twilio, survey, attempt=1)
    assert stale.find("Gather") is None and stale.find("Hangup") is not None
    status(twilio, survey, 1, "completed")
    assert the_survey(db_session, number).state is SurveyState.DIALING


def test_twilio_errors_and_timeouts_are_retried_with_backoff(
    app: Flask,
    db_session: Session,
    calls: list[Posted],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = [
        TwilioRestException(429, "/Calls.json", "Too Many Requests", code=20429),
        TwilioRestException(503, "/Calls.json", "Service Unavailable"),
        TimeoutError("read timed out"),
    ]
    real = dialer.place_call

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if answers:
            raise answers.pop(0)
        return real(*args, **kwargs)

    monkeypatch.setattr(dialer, "place_call", flaky)
    number = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    jobs.run_sweepers(app, clock())  # the dial job
    job_id = db_session.scalar(select(Job.id).where(Job.kind == dialer.DIAL))
    assert job_id is not None
    database, settings = app.extensions["hotline.db"], app.extensions["hotline.settings"]
    outcomes = []
    for minutes in (0, 1, 3, 7, 15):  # the job's own backoff (real time): 30 s, 1, 2, 4 min
        at = utcnow() + dt.timedelta(minutes=minutes)
        outcomes.append(jobs.run_job(database, settings, job_id, now=at))

    assert outcomes == ["retry", "retry", "retry", "done", "skipped"]
    survey = the_survey(db_session, number)
    assert (survey.state, survey.attempts) == (SurveyState.DIALING, 1), "the same attempt"
    (attempt,) = db_session.scalars(select(SurveyAttempt)).all()
    assert attempt.status == "queued" and attempt.call_sid is not None
    assert len(call_requests(calls)) == 1


def test_a_refused_call_counts_as_a_failed_attempt(
    app: Flask,
    db_session: Session,
    calls: list[Posted],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise TwilioRestException(400, "/Calls.json", "Invalid 'To' Phone Number", code=21211)

    monkeypatch.setattr(dialer, "place_call", refuse)
    number = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    assert sweep(app, clock).get("done") == 1

    survey = the_survey(db_session, number)
    assert (survey.state, survey.attempts) == (SurveyState.SCHEDULED, 1)
    assert survey.note == "attempt 1: Twilio refused the call"
    (attempt,) = db_session.scalars(select(SurveyAttempt)).all()
    assert attempt.status == "error" and "Invalid 'To'" in (attempt.error or "")


def test_a_call_lost_without_news_is_ended_by_the_sweep(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    # No answer webhook, no status callback: Twilio's callbacks never reached us.
    sweep(app, clock, clock.at + dialer.STALE + dt.timedelta(minutes=1))
    survey = the_survey(db_session, number)
    assert (survey.state, survey.note) == (SurveyState.SCHEDULED, "attempt 1: no news of the call")


def test_a_backlog_is_queued_a_minute_at_a_time(app: Flask, db_session: Session) -> None:
    survey = dataclasses.replace(app.extensions["hotline.survey"], calls_per_second=0.1)
    now = FIRST_CALL.astimezone(dt.UTC)
    for i in range(8):
        db_session.add(
            CaseSurvey(
                case_number=f"MS-20261124-{i:04d}",
                round=0,
                caller_number=CALLER,
                state=SurveyState.SCHEDULED,
                due_at=now - dt.timedelta(minutes=i),
            )
        )
    db_session.flush()

    assert dialer.queue_due(db_session, survey, now) == 6, "0.1 calls/s: 6 a minute (10% margin)"
    assert dialer.queue_due(db_session, survey, now) == 6, "the same six again: nothing new"
    keys = db_session.scalars(select(Job.key).where(Job.kind == dialer.DIAL)).all()
    assert len(keys) == 6
    oldest = db_session.scalars(select(CaseSurvey.id).order_by(CaseSurvey.due_at).limit(6)).all()
    assert sorted(keys) == sorted(f"{i}:1" for i in oldest), "the longest waiting go first"


@hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(["answer", "reply", "status", "amd"]),
    query=st.dictionaries(
        st.sampled_from(["s", "a", "q", "t"]),
        st.one_of(st.text(max_size=12), st.integers(-5, 10**12).map(str)),
        max_size=4,
    ),
    digits=st.one_of(st.none(), st.text(max_size=20), st.text("0123456789*#", max_size=3000)),
    speech=st.one_of(st.none(), st.text(max_size=600)),
    call_status=st.one_of(st.none(), st.text(max_size=12), st.sampled_from(attempts.FINAL)),
    answered_by=st.one_of(st.none(), st.text(max_size=30), st.sampled_from(attempts.ANSWERED_BY)),
    duration=st.one_of(st.none(), st.text(max_size=12), st.integers(-10, 10**30).map(str)),
    on_the_line=st.booleans(),
)
def test_any_survey_webhook_input_is_answered_never_a_server_error(
    app: Flask,
    db_session: Session,
    twilio: TwilioSigner,
    calls: list[Posted],
    clock: Clock,
    route: str,
    on_the_line: bool,
    query: dict[str, str],
    digits: str | None,
    speech: str | None,
    call_status: str | None,
    answered_by: str | None,
    duration: str | None,
) -> None:
    params = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "0" * 32, "To": CALLER}
    for name, value in (
        ("Digits", digits),
        ("SpeechResult", speech),
        ("CallStatus", call_status),
        ("AnsweredBy", answered_by),
        ("CallDuration", duration),
    ):
        if value is not None and "\x00" not in value:
            params[name] = value
    if on_the_line:  # the survey of a real call (the examples may well end it)
        survey = db_session.scalar(select(CaseSurvey))
        if survey is None:
            _, survey = placed(app, db_session, clock)
        query = {**query, "s": str(survey.id), "a": "1"}
    path = f"/voice/survey/{route}"
    if query:
        path += "?" + urlencode(query)
    response = twilio.post(path, params)

    assert response.status_code in (200, 204, 400), response.get_data(as_text=True)
    if response.status_code == 200:
        root = twiml(response)
        assert root.find("Hangup") is not None or root.find("Gather") is not None
    if not on_the_line and response.status_code == 200:
        assert twiml(response).find("Hangup") is not None, "no survey on the line: goodbye"


# ------------------------------------------------------------------ forged and replayed webhooks


def _everything(db_session: Session, number: str) -> tuple[object, ...]:
    """What any survey webhook could change: answers, surveys, attempts, the case, jobs."""
    db_session.expire_all()
    case = the_case(db_session, number)
    return (
        [(a.question, a.value, a.attempt) for a in db_session.scalars(select(SurveyAnswer))],
        [
            (s.state, s.attempts, s.outcome, s.negative)
            for s in db_session.scalars(select(CaseSurvey))
        ],
        [
            (a.attempt, a.status, a.call_sid, a.answered_by, a.duration_s, a.ended_at)
            for a in db_session.scalars(select(SurveyAttempt))
        ],
        (case.state, case.reopen_count, len(timeline(db_session, case))),
        sorted((j.kind, j.key) for j in db_session.scalars(select(Job))),
        len(db_session.scalars(select(SurveyOptOut)).all()),
    )


FORGED_CALL_SID = "CA../../" + "0" * 26  # 34 characters, 'CA' first: not a CallSid
#: The query strings below are as sent: ² is %C2%B2, a full-width 1 is %EF%BC%91.


@pytest.mark.parametrize(
    ("route", "query", "change", "why"),
    [
        ("answer", "", {"AccountSid": "AC" + "f" * 32}, "AccountSid: not this hotline's"),
        ("answer", "", {"CallSid": FORGED_CALL_SID}, "CallSid"),
        ("answer", "s=%C2%B2&a=1", {}, "s: a whole number"),
        ("answer", "a=1", {}, "s: a whole number"),
        ("reply", "", {"AccountSid": "AC" + "f" * 32, "Digits": "2"}, "not this hotline's"),
        ("reply", "", {"AccountSid": "", "Digits": "2"}, "AccountSid"),
        ("reply", "", {"CallSid": FORGED_CALL_SID, "Digits": "2"}, "CallSid"),
        ("reply", "s={s}&a=%EF%BC%91&q=0&t=0", {"Digits": "2"}, "a: a whole number"),
        ("reply", "s={s}&a=1&q=%C2%B2&t=0", {"Digits": "2"}, "q: a whole number"),
        ("reply", "s={s}&a=1&q=0&t=7", {"Digits": "2"}, "t: a whole number"),
        ("status", "", {"CallStatus": "completed", "CallDuration": "²"}, "CallDuration"),
        ("status", "s=%C2%B2&a=1", {"CallStatus": "completed"}, "s: a whole number"),
        ("status", "s={s}&a=99999999999", {"CallStatus": "completed"}, "a: a whole number"),
        ("amd", "s={s}&a=%C2%B2", {"AnsweredBy": "machine_start"}, "a: a whole number"),
    ],
)
def test_a_forged_survey_webhook_is_refused_and_nothing_is_written(
    app: Flask,
    db_session: Session,
    twilio: TwilioSigner,
    calls: list[Posted],
    clock: Clock,
    route: str,
    query: str,
    change: dict[str, str],
    why: str,
) -> None:
    number, survey = placed(app, db_session, clock)
    before = _everything(db_session, number)
    path = f"/voice/survey/{route}?" + (query or "s={s}&a=1&q=0&t=0").format(s=survey.id)
    response = twilio.post(path, {**callee(survey), **change})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert why in reason(response)
    assert _everything(db_session, number) == before
    assert the_survey(db_session, number).state is SurveyState.DIALING


def test_a_replayed_survey_answers_nothing_once_the_case_was_reopened(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    first = answer(twilio, survey)
    second = respond(twilio, first, survey, Digits="2")  # not resolved
    again = respond(twilio, first, survey, Digits="1")  # a replay of the step, another key
    assert ET.tostring(again) == ET.tostring(second), "the step was answered: same next step"
    third = respond(twilio, second, survey, Digits="1")
    end = respond(twilio, third, survey, SpeechResult="还是不亮")
    assert "重新办理" in heard(end)
    status(twilio, survey, 1, "completed", CallDuration="52")
    done = _everything(db_session, number)
    assert done[0] == [("resolved", "no", 1), ("satisfaction", "1", 1), ("comment", None, 1)]
    case = the_case(db_session, number)
    assert (case.state, case.reopen_count) == (CaseState.DISPATCHED, 1), "reopened once"

    for root, said_ in ((first, {"Digits": "1"}), (second, {"Digits": "5"}), (third, {})):
        replayed = respond(twilio, root, survey, **said_)
        assert replayed.find("Gather") is None and replayed.find("Hangup") is not None
    replayed_end = respond(twilio, third, survey, SpeechResult="还是不亮")
    assert replayed_end.find("Hangup") is not None
    assert "重新办理" not in heard(replayed_end), "the end is not announced (nor done) twice"
    assert answer(twilio, survey).find("Gather") is None
    status(twilio, survey, 1, "completed", CallDuration="52")
    assert _everything(db_session, number) == done
