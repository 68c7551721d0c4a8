"""The operators' side of surveys: `hotline surveys dial|report|list`, and the softphone playing
the callee of a survey call (`hotline call --survey CASE`)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import cli
from cases.workflow import CaseState
from core import jobs
from ivr.softphone import FlaskTransport, Softphone, survey_leg
from surveys.models import SurveyAnswer, SurveyState
from tests.conftest import PUBLIC_BASE_URL, TEST_AUTH_TOKEN
from tests.prism import prism_fixture  # noqa: F401 (`prism` fixture)
from tests.support import CALLER, TwilioSigner
from tests.test_survey_calls import (  # noqa: F401 (fixtures)
    RESOLVED_AT,
    SHANGHAI,
    Clock,
    Posted,
    answer,
    call_requests,
    calls,
    clock,
    placed,
    resolved_case,
    respond,
    status,
    survey_file,
    the_case,
    the_survey,
)


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
    assert "outside calling hours (09:00–20:00)" in output
    assert "due at 2026-11-25 09:00" in output

    code, output = run(app, "surveys", "dial", number, "--ignore-hours", "--wait", "0")
    assert code == 1 and "is the job worker running" in output, "queued; no worker in tests"
    jobs.run_due(app, clock())  # the worker
    assert len(call_requests(calls)) == 1
    assert the_survey(db_session, number).state is SurveyState.DIALING
    code, output = run(app, "surveys", "dial", number)
    assert code == 1 and "is dialing" in output


def test_the_softphone_answers_a_survey_call(
    app: Flask, db_session: Session, calls: list[Posted], clock: Clock
) -> None:
    number, survey = placed(app, db_session, clock)
    leg = survey_leg(app, number)
    assert (leg.to_number, leg.from_number) == (CALLER, "+865996110110")
    assert leg.answer_path == f"/voice/survey/answer?s={survey.id}&a=1"
    lines: list[str] = []
    phone = Softphone(
        transport=FlaskTransport(app.test_client()),
        public_base_url=PUBLIC_BASE_URL,
        auth_token=TEST_AUTH_TOKEN,
        account_sid=leg.account_sid,
        from_number=leg.from_number,
        to_number=leg.to_number,
        inputs=["1", "say:基本满意"],
        output_func=lines.append,
        incoming_path=leg.answer_path,
        status_path=leg.status_path,
        call_sid=leg.call_sid,
        leg_extra={"Direction": "outbound-api", "AnsweredBy": "human"},
        first_status="in-progress",
    )
    result = phone.run()

    assert result.exit_code == 0, "\n".join(lines)
    assert any("感谢您的配合" in line for line in lines)
    assert [path for path, _ in result.requests][-1].startswith("/voice/survey/status?")
    values = db_session.scalars(select(SurveyAnswer.value).order_by(SurveyAnswer.id)).all()
    assert list(values) == ["yes", "3"]
    assert the_case(db_session, number).state is CaseState.CLOSED


def test_no_survey_call_on_the_line_is_explained(app: Flask, db_session: Session) -> None:
    number = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    with pytest.raises(LookupError, match=f"hotline surveys dial {number}"):
        survey_leg(app, number)


def test_the_report_rolls_up_per_unit_and_category(
    app: Flask, db_session: Session, twilio: TwilioSigner, calls: list[Posted], clock: Clock
) -> None:
    _, first = placed(app, db_session, clock)
    root = answer(twilio, first, AnsweredBy="human")
    respond(twilio, respond(twilio, root, first, Digits="1"), first, Digits="4")
    unhappy = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))
    jobs.run_due(app, clock())
    second = the_survey(db_session, unhappy)
    root = answer(twilio, second, AnsweredBy="human")
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
