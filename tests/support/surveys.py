"""Survey calls as tests drive them: a movable clock, resolved cases, the callee's side of the
call (answers, status and AMD callbacks) and the REST requests the dialer sent to Twilio.

The fixtures that use these (`clock`, `survey_file`, `calls`) are in tests/surveys/conftest.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.http.http_client import TwilioHttpClient

from cases.models import Case
from cases.service import apply, create_case
from config.settings import Settings
from core import jobs
from surveys.models import CaseSurvey, SurveyState
from tests.support import CALLER, TwilioSigner, gather_of, path_of, said, twiml

SHANGHAI = ZoneInfo("Asia/Shanghai")
RESOLVED_AT = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)  # a Tuesday morning
FIRST_CALL = RESOLVED_AT + dt.timedelta(minutes=31)


class Clock:
    """The surveys' clock, moved by the test."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at.astimezone(dt.UTC)


@dataclasses.dataclass
class Posted:
    method: str
    url: str
    data: dict[str, list[str]]


class RecordingHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's own HTTP client (to Prism), remembering every request it sends."""

    sent: list[Posted] = []  # noqa: RUF012 (reset by the fixture)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        data = kwargs.get("data") or {}
        form: dict[str, list[str]] = {}
        for key, value in data.items():
            form[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        RecordingHttpClient.sent.append(Posted(method, url, form))
        return super().request(method, url, *args, **kwargs)


def call_requests(sent: list[Posted]) -> list[Posted]:
    return [p for p in sent if p.url.endswith("/Calls.json")]


def resolved_case(
    app: Flask,
    db_session: Session,
    *,
    at: dt.datetime = RESOLVED_AT,
    caller: str | None = CALLER,
    language: str = "zh",
    confidential: bool = False,
) -> str:
    """A street-light case, dispatched, accepted and resolved at `at`; its number."""
    settings: Settings = app.extensions["hotline.settings"]
    case = create_case(
        db_session,
        call_sid=None,
        category="city_management",
        language=language,
        caller_number=caller,
        caller_raw=caller or "anonymous",
        transcript="人民路的路灯坏了",
        tz=settings.tz,
        holidays={},
        confidential=confidential,
        source="api",
        now=at,
    )
    units = app.extensions["hotline.units"]
    unit = "city_management"
    apply(db_session, case.number, "dispatch", actor="t", unit_code=unit, units=units, now=at)
    apply(db_session, case.number, "accept", actor="t", now=at)
    apply(db_session, case.number, "resolve", actor="t", note="已更换灯泡", now=at)
    db_session.commit()
    return case.number


def the_survey(db_session: Session, number: str) -> CaseSurvey:
    db_session.expire_all()
    survey = db_session.scalar(select(CaseSurvey).where(CaseSurvey.case_number == number))
    assert survey is not None
    return survey


def the_case(db_session: Session, number: str) -> Case:
    db_session.expire_all()
    case = db_session.scalar(select(Case).where(Case.number == number))
    assert case is not None
    return case


def sweep(app: Flask, clock: Clock, at: dt.datetime | None = None) -> dict[str, int]:
    if at is not None:
        clock.at = at
    return jobs.run_due(app, clock())


def placed(app: Flask, db_session: Session, clock: Clock) -> tuple[str, CaseSurvey]:
    """A resolved case whose first survey call has just been placed."""
    number = resolved_case(app, db_session)
    jobs.run_sweepers(app, RESOLVED_AT.astimezone(dt.UTC))  # schedules the survey
    sweep(app, clock)  # due: queued and dialled
    survey = the_survey(db_session, number)
    assert survey.state is SurveyState.DIALING
    return number, survey


def answer(twilio: TwilioSigner, survey: CaseSurvey, attempt: int = 1, **extra: str) -> ET.Element:
    params = callee(survey, attempt, **extra)
    return twiml(twilio.post(f"/voice/survey/answer?s={survey.id}&a={attempt}", params))


def callee(survey: CaseSurvey, attempt: int = 1, **extra: str) -> dict[str, str]:
    return {
        "CallSid": f"CA{survey.id:016d}{attempt:016d}",
        "AccountSid": "AC" + "0" * 32,
        "From": "+865996110110",
        "To": CALLER,
        "Direction": "outbound-api",
        "CallStatus": "in-progress",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def respond(twilio: TwilioSigner, root: ET.Element, survey: CaseSurvey, **said: str) -> ET.Element:
    """Answer the <Gather> of `root` with keys (Digits=…) or speech (SpeechResult=…)."""
    action = path_of(gather_of(root).get("action") or "")
    attempt = int(parse_qs(urlsplit(action).query)["a"][0])
    return twiml(twilio.post(action, {**callee(survey, attempt), **said}))


def status(twilio: TwilioSigner, survey: CaseSurvey, attempt: int, call_status: str, **extra: str):  # type: ignore[no-untyped-def]
    params = {**callee(survey, attempt), "CallStatus": call_status, **extra}
    response = twilio.post(f"/voice/survey/status?s={survey.id}&a={attempt}", params)
    assert response.status_code == 204, response.get_data(as_text=True)


def heard(root: ET.Element) -> str:
    return " ".join(text for _, text in said(root))


def amd(twilio: TwilioSigner, survey: CaseSurvey, attempt: int, answered_by: str, **extra: str):  # type: ignore[no-untyped-def]
    """Twilio's answering machine detection callback (AsyncAmd) for an attempt."""
    params = {**callee(survey, attempt), "AnsweredBy": answered_by, **extra}
    return twilio.post(f"/voice/survey/amd?s={survey.id}&a={attempt}", params)


def hangups(sent: list[Posted]) -> list[Posted]:
    """The REST requests that end a call (calls(sid).update(status="completed"))."""
    return [p for p in sent if "/Calls/CA" in p.url and p.data.get("Status") == ["completed"]]
