"""The operators' side of surveys: `hotline surveys dial|report|list`, and the softphone playing
the callee of a survey call (`hotline call --survey CASE`)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import cli, create_app
from cases.workflow import CaseState
from config.settings import Settings
from core import jobs, migrate, twilio_rest
from core.db import database
from core.jobs import Job
from surveys import detection, dialer
from surveys.models import SurveyAnswer, SurveyAttempt, SurveyOutcome, SurveyState
from tests.support import CALLER, PUBLIC_BASE_URL, TEST_AUTH_TOKEN, TwilioSigner, make_settings
from tests.support.surveys import (
    RESOLVED_AT,
    SHANGHAI,
    Clock,
    Posted,
    RecordingHttpClient,
    answer,
    call_requests,
    hangups,
    placed,
    resolved_case,
    respond,
    status,
    the_case,
    the_survey,
)
from tools.softphone import FlaskTransport, survey_leg, survey_softphone


def run(app: Flask, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))
    return result.exit_code, result.output


def test_dial_now_refuses_outside_calling_hours_unless_told(
    app: Flask, db_session: Session, calls: list[Posted], clock: Clock
) -> None:
    number = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    clock.at = dt.datetime(2026, 11, 24, 22, 15, tzinfo=SHANGHAI)

    code, output = run(app, "surveys", "dial", number)
    assert code == 1
    assert "outside calling hours (09:00–20:00 Asia/Shanghai)" in output
    assert "due at 2026-11-25 09:00;" in output

    code, output = run(app, "surveys", "dial", number, "--ignore-hours", "--wait", "0")
    assert code == 1 and "is the job worker running" in output, "queued; no worker in tests"
    jobs.run_due(app, clock())  # the worker
    assert len(call_requests(calls)) == 1
    assert the_survey(db_session, number).state is SurveyState.DIALING
    code, output = run(app, "surveys", "dial", number)
    assert code == 1 and "is dialing" in output


@pytest.fixture
def committing(
    empty_url: str,
    tmp_path: Path,
    prism: str,
    survey_file: Path,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Flask]:
    """An app whose sessions really commit (no test transaction), with Twilio's API as Prism:
    what one thread commits, another thread's sessions can see, as between two processes."""
    migrate.upgrade(migrate.alembic_config(url=empty_url))
    settings = make_settings(
        empty_url, tmp_path, twilio_api_base_url=prism, survey_file=survey_file
    )
    app = create_app(settings)
    RecordingHttpClient.sent = []
    monkeypatch.setattr(twilio_rest, "TwilioHttpClient", RecordingHttpClient)
    yield app
    database(app).engine.dispose()


def test_dial_sees_the_call_the_worker_places_meanwhile(committing: Flask, clock: Clock) -> None:
    """`surveys dial` waits while a worker (another thread, its own sessions and commits)
    places the call; the command must see that commit and report the call, not time out."""
    app = committing
    with database(app).sessions() as session:
        number = resolved_case(app, session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))  # schedules the survey
    worker_ran = threading.Event()
    problems: list[BaseException] = []

    def worker() -> None:
        """The job worker: once the command has queued the dial job (and started waiting),
        it runs the due jobs and commits the placed call."""
        try:
            with database(app).sessions() as session:
                queued = select(Job.id).where(Job.kind == dialer.DIAL)
                give_up = time.monotonic() + 15
                while session.scalar(queued) is None:
                    assert time.monotonic() < give_up, "the command queued no dial job"
                    session.rollback()
                    time.sleep(0.05)
            time.sleep(1.0)  # the command is in its waiting loop by now, looking every 0.5 s
            ran = jobs.run_due(app, clock())
            assert set(ran) == {"done"}, ran  # the dial job, and whatever else was due
            worker_ran.set()
        except BaseException as exc:  # reported by the test below
            problems.append(exc)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    started = time.monotonic()
    code, output = run(app, "surveys", "dial", number, "--ignore-hours", "--wait", "15")
    waited = time.monotonic() - started
    thread.join(15)

    assert not problems, problems
    assert worker_ran.is_set()
    assert code == 0, output
    with database(app).sessions() as session:
        survey = the_survey(session, number)
        (attempt,) = session.scalars(select(SurveyAttempt)).all()
    assert attempt.call_sid and attempt.call_sid.startswith("CA")
    assert f"survey call placed: case {number}, attempt 1, call {attempt.call_sid}" in output
    assert survey.state is SurveyState.DIALING
    assert len(call_requests(RecordingHttpClient.sent)) == 1
    assert waited < 10, f"the command saw the call only after {waited:.1f} s"


def test_list_writes_due_times_in_the_hotlines_zone(
    app: Flask, db_session: Session, clock: Clock
) -> None:
    number = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    due = the_survey(db_session, number).due_at.astimezone(SHANGHAI)

    code, output = run(app, "surveys", "list")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "times in Asia/Shanghai"
    assert lines[1].startswith(f"{number}  round 0  scheduled")
    assert f"due {due:%Y-%m-%d %H:%M}" in lines[1]
    assert lines[-1] == "1 survey(s)"


def test_the_softphone_answers_a_survey_call(
    app: Flask, db_session: Session, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    leg = survey_leg(app, number)
    assert (leg.to_number, leg.from_number) == (CALLER, "+865996110110")
    assert leg.answer_path == f"/voice/survey/answer?s={survey.id}&a=1"
    assert leg.amd_path == f"/voice/survey/amd?s={survey.id}&a=1"
    lines: list[str] = []
    phone = survey_softphone(
        leg,
        "human",
        transport=FlaskTransport(app.test_client()),
        public_base_url=PUBLIC_BASE_URL,
        auth_token=TEST_AUTH_TOKEN,
        inputs=["1", "say:基本满意"],
        output_func=lines.append,
    )
    result = phone.run()

    assert result.exit_code == 0, "\n".join(lines)
    assert any("感谢您的配合" in line for line in lines)
    paths = [path for path, _ in result.requests]
    assert paths[:2] == [leg.answer_path, leg.amd_path], "detection reports after the answer"
    assert paths[-1].startswith("/voice/survey/status?")
    answered, detection = result.requests[0][1], result.requests[1][1]
    assert "AnsweredBy" not in answered and answered["Direction"] == "outbound-api"
    assert (detection["AnsweredBy"], detection["CallSid"]) == ("human", leg.call_sid)
    values = db_session.scalars(select(SurveyAnswer.value).order_by(SurveyAnswer.id)).all()
    assert list(values) == ["yes", "3"]
    assert the_attempt(db_session).answered_by == "human"
    assert the_case(db_session, number).state is CaseState.CLOSED


def the_attempt(db_session: Session) -> SurveyAttempt:
    """The one survey attempt placed, fresh from the database."""
    db_session.expire_all()
    (attempt,) = db_session.scalars(select(SurveyAttempt)).all()
    return attempt


def hotline_call(
    app: Flask, monkeypatch: pytest.MonkeyPatch, number: str, *args: str
) -> tuple[int, str]:
    """`hotline call --survey NUMBER …`, answering the test app through its test client."""
    settings: Settings = app.extensions["hotline.settings"]
    monkeypatch.setattr(Settings, "from_env", classmethod(lambda cls: settings))
    monkeypatch.setattr("app.create_app", lambda settings=None: app)
    transport = FlaskTransport(app.test_client())
    monkeypatch.setattr("tools.softphone._transport", lambda base_url: transport)
    return run(app, "call", "--survey", number, "--public-url", PUBLIC_BASE_URL, *args)


def test_hotline_call_survey_a_person_answering_completes_the_survey(
    app: Flask,
    db_session: Session,
    calls: list[Posted],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    number, _ = placed(app, db_session, clock)
    code, output = hotline_call(app, monkeypatch, number, "--input", "1", "--input", "5")

    assert code == 0, output
    assert "🤖 answering-machine detection: human" in output
    assert "感谢您的配合" in output
    done = the_survey(db_session, number)
    assert (done.state, done.outcome) == (SurveyState.COMPLETED, SurveyOutcome.ANSWERED)
    assert the_attempt(db_session).answered_by == "human"
    assert the_case(db_session, number).state is CaseState.CLOSED


@pytest.mark.parametrize("machine", ["machine_start", "machine_end_silence", "fax"])
def test_hotline_call_survey_a_machine_is_hung_up_on_and_tried_again(
    app: Flask,
    db_session: Session,
    calls: list[Posted],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    machine: str,
) -> None:
    number, _ = placed(app, db_session, clock)
    args = ("--answered-by", machine, "--input", "1", "--input", "5")
    code, output = hotline_call(app, monkeypatch, number, *args)

    assert code == 0, output
    assert "您反映的问题解决了吗" in output, "the question plays at once, to the machine too"
    assert "» 1" not in output, "a machine answers nothing"
    assert "📴 the hotline ended the call (answering machine)" in output
    assert "call ended (api-hangup)" in output
    later = the_survey(db_session, number)
    assert (later.state, later.note) == (SurveyState.SCHEDULED, "attempt 1: an answering machine")
    assert later.attempts == 1 and later.due_at > clock(), "the next attempt, later"
    attempt = the_attempt(db_session)
    assert (attempt.answered_by, attempt.status) == (machine, "completed")
    assert db_session.scalars(select(SurveyAnswer)).all() == []
    assert the_case(db_session, number).state is CaseState.RESOLVED, "not closed by a machine"
    (job,) = db_session.scalars(select(Job).where(Job.kind == detection.HANGUP)).all()
    assert job.payload["call_sid"] == attempt.call_sid
    jobs.run_due(app, clock())
    assert hangups(calls) == [], "the call is over already: nothing to end"


def test_no_survey_call_on_the_line_is_explained(app: Flask, db_session: Session) -> None:
    number = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    with pytest.raises(LookupError, match=f"hotline surveys dial {number}"):
        survey_leg(app, number)


def test_the_report_rolls_up_per_unit_and_category(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    _, first = placed(app, db_session, clock)
    root = answer(twilio, first)
    respond(twilio, respond(twilio, root, first, Digits="1"), first, Digits="4")
    unhappy = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    jobs.run_due(app, clock())
    second = the_survey(db_session, unhappy)
    root = answer(twilio, second)
    respond(twilio, root, second, Digits="2")
    status(twilio, second, 1, "completed")  # hung up after the first answer

    code, output = run(app, "surveys", "report", "--since", "2026-11-01", "--until", "2026-12-31")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[1].split() == [
        "unit",
        "category",
        "placed",
        "answered",
        "unreachable",
        "response",
        "resolved",
        "+",
        "satisfaction",
        "+",
    ]
    row = lines[2].split()
    assert row[:6] == ["city_management", "city_management", "2", "2", "0", "100.0%"]
    assert row[6:] == ["50.0%", "(1/2)", "100.0%", "(1/1)"]
    assert lines[-1].split()[:2] == ["*", "*"]

    code, output = run(app, "surveys", "list")
    assert code == 0 and output.count("completed   answered") == 2, output
