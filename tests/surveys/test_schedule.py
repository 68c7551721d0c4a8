"""Callback surveys are scheduled once per resolution, inside calling hours, never to opt-outs."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy.orm import Session

from app import cli
from cases.service import apply
from config.settings import CONFIG_DIR, Settings
from core import jobs
from surveys.definition import SurveyError, load_survey, parse_survey
from surveys.models import SurveyState
from surveys.schedule import next_calling_time
from surveys.service import opt_out, surveys_of
from tests.support.surveys import resolved_case

SHANGHAI = ZoneInfo("Asia/Shanghai")
SURVEY = load_survey(CONFIG_DIR / "survey.yaml")


def local(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (local(2026, 11, 24, 10, 0), local(2026, 11, 24, 10, 0)),  # inside hours
        (local(2026, 11, 24, 7, 30), local(2026, 11, 24, 9, 0)),  # before: same morning
        (local(2026, 11, 24, 20, 0), local(2026, 11, 25, 9, 0)),  # at closing: next morning
        (local(2026, 11, 24, 23, 59), local(2026, 11, 25, 9, 0)),
        (local(2026, 9, 30, 21, 0), local(2026, 10, 2, 9, 0)),  # 10-01 is a holiday
    ],
)
def test_calls_are_only_placed_inside_calling_hours(
    after: dt.datetime, expected: dt.datetime
) -> None:
    holidays = {dt.date(2026, 10, 1): "国庆节"}
    assert next_calling_time(after, SURVEY, SHANGHAI, holidays) == expected


def test_a_resolved_case_gets_exactly_one_survey_in_calling_hours(
    app: Flask, db_session: Session, settings: Settings
) -> None:
    number = resolved_case(app, db_session, at=local(2026, 11, 24, 19, 45))
    jobs.run_sweepers(app)
    jobs.run_sweepers(app)  # a second sweep (or a second worker) adds nothing
    (survey,) = surveys_of(db_session, number)
    assert survey.state is SurveyState.SCHEDULED
    assert survey.due_at == local(2026, 11, 25, 9, 0), "19:45 + 30 min is after 20:00"
    assert (survey.round, survey.caller_number) == (0, "+8613800138000")


def test_reopened_and_resolved_again_means_a_second_survey(
    app: Flask, db_session: Session, settings: Settings
) -> None:
    number = resolved_case(app, db_session, at=local(2026, 11, 24, 10, 0))
    jobs.run_sweepers(app)
    apply(
        db_session,
        number,
        "reopen",
        actor="survey",
        note="没修好",
        tz=settings.tz,
        holidays={},
        now=local(2026, 11, 25, 10, 0),
    )
    apply(
        db_session,
        number,
        "dispatch",
        actor="t",
        unit_code="water_supply",
        units=app.extensions["hotline.units"],
    )
    apply(db_session, number, "accept", actor="t")
    apply(db_session, number, "resolve", actor="t", note="这次修好了")
    db_session.commit()
    jobs.run_sweepers(app)
    assert [s.round for s in surveys_of(db_session, number)] == [0, 1]


@pytest.mark.parametrize(
    ("kwargs", "note"),
    [
        ({"confidential": True}, "confidentiality"),
        ({"caller": None}, "no number"),
    ],
)
def test_confidential_or_anonymous_cases_are_never_called(
    app: Flask, db_session: Session, settings: Settings, kwargs: dict[str, object], note: str
) -> None:
    number = resolved_case(app, db_session, at=local(2026, 11, 24, 10, 0), **kwargs)  # type: ignore[arg-type]
    jobs.run_sweepers(app)
    (survey,) = surveys_of(db_session, number)
    assert survey.state is SurveyState.CANCELLED
    assert note in survey.note


def test_an_opted_out_number_is_never_called(
    app: Flask, db_session: Session, settings: Settings
) -> None:
    pending = resolved_case(app, db_session, at=local(2026, 11, 24, 10, 0))
    jobs.run_sweepers(app)
    result = CliRunner().invoke(
        cli, ["surveys", "optout", "13800138000"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output
    assert "+8613800138000 opted out" in result.output
    (cancelled,) = surveys_of(db_session, pending)
    assert cancelled.state is SurveyState.CANCELLED, "a survey already scheduled is cancelled"

    later = resolved_case(app, db_session, at=local(2026, 11, 24, 11, 0))
    jobs.run_sweepers(app)
    (survey,) = surveys_of(db_session, later)
    assert survey.state is SurveyState.CANCELLED
    assert not opt_out(db_session, "+8613800138000", "test"), "already out"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("calling_hours", "end"), "08:00", "calling_hours: end must be after start"),
        (("attempts",), 0, "attempts: must be a number from 1 to 10"),
        (("opt_out_key",), "1", "opt_out_key: '1' is also an answer key"),
        (("calls_per_second",), "fast", "calls_per_second: must be a number"),
        (("time_limit_s",), 30, "time_limit_s: must be whole seconds from 60 to 3600, got 30"),
        (("time_limit_s",), 300.5, "time_limit_s: must be whole seconds from 60 to 3600"),
        (("time_limit_s",), True, "time_limit_s: must be whole seconds from 60 to 3600"),
        (("time_limit_s",), 7200, "time_limit_s: must be whole seconds from 60 to 3600"),
    ],
)
def test_a_bad_survey_file_is_refused_naming_the_field(
    path: tuple[str, ...], value: object, message: str
) -> None:
    doc = copy.deepcopy(yaml.safe_load((CONFIG_DIR / "survey.yaml").read_text(encoding="utf-8")))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SurveyError, match=f"^{message}"):
        parse_survey(doc)


def test_too_many_questions_are_refused(tmp_path: Path) -> None:
    doc = yaml.safe_load((CONFIG_DIR / "survey.yaml").read_text(encoding="utf-8"))
    doc["questions"] = doc["questions"] * 3
    with pytest.raises(SurveyError, match="one to 4 questions"):
        parse_survey(doc)


def test_the_time_limit_defaults_to_five_minutes() -> None:
    doc = yaml.safe_load((CONFIG_DIR / "survey.yaml").read_text(encoding="utf-8"))
    assert parse_survey(doc).time_limit_s == doc["time_limit_s"]
    del doc["time_limit_s"]
    assert parse_survey(doc).time_limit_s == 300
