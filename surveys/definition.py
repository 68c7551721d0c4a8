"""The survey definition (config/survey.yaml), validated with errors naming the field."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config.files import ConfigFileError, load_config_file, require_mapping

LANGUAGES = ("zh", "en")


class SurveyError(ConfigFileError):
    """The survey file is invalid; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Question:
    id: str
    keys: Mapping[str, str]
    prompt: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class Survey:
    delay: dt.timedelta
    hours_start: dt.time
    hours_end: dt.time
    skip_holidays: bool
    attempts: int
    window: dt.timedelta
    calls_per_second: float
    opt_out_key: str
    questions: tuple[Question, ...]


def load_survey(path: Path) -> Survey:
    return load_config_file(path, parse_survey, SurveyError)


def parse_survey(raw: Any) -> Survey:
    doc = require_mapping(raw, "survey", SurveyError)
    hours = require_mapping(doc.get("calling_hours"), "calling_hours", SurveyError)
    start, end = (
        _time(hours.get("start"), "calling_hours.start"),
        _time(hours.get("end"), "calling_hours.end"),
    )
    if end <= start:
        raise SurveyError("calling_hours: end must be after start (same day)")
    questions = []
    for i, spec in enumerate(doc.get("questions") or []):
        where = f"questions[{i}]"
        spec = require_mapping(spec, where, SurveyError)
        qid = spec.get("id")
        if not isinstance(qid, str) or not qid.isidentifier():
            raise SurveyError(f"{where}.id: must be a short identifier")
        keys = require_mapping(spec.get("keys"), f"{where}.keys", SurveyError)
        if not keys or not all(str(k) in "0123456789" and len(str(k)) == 1 for k in keys):
            raise SurveyError(f"{where}.keys: must map single digits to answers")
        prompt = require_mapping(spec.get("prompt"), f"{where}.prompt", SurveyError)
        for language in LANGUAGES:
            if not isinstance(prompt.get(language), str) or not prompt[language].strip():
                raise SurveyError(f"{where}.prompt: no text for language {language!r}")
        questions.append(
            Question(id=qid, keys={str(k): str(v) for k, v in keys.items()}, prompt=dict(prompt))
        )
    if not 1 <= len(questions) <= 4:
        raise SurveyError("questions: one to four questions (more and people hang up)")
    opt_out = str(doc.get("opt_out_key", "9"))
    if any(opt_out in q.keys for q in questions):
        raise SurveyError(f"opt_out_key: {opt_out!r} is also an answer key")
    return Survey(
        delay=dt.timedelta(
            minutes=_number(doc.get("delay_minutes", 30), "delay_minutes", 0, 7 * 24 * 60)
        ),
        hours_start=start,
        hours_end=end,
        skip_holidays=bool(doc.get("skip_holidays", True)),
        attempts=int(_number(doc.get("attempts", 3), "attempts", 1, 10)),
        window=dt.timedelta(hours=_number(doc.get("window_hours", 48), "window_hours", 1, 24 * 14)),
        calls_per_second=float(
            _number(doc.get("calls_per_second", 1), "calls_per_second", 0.1, 100)
        ),
        opt_out_key=opt_out,
        questions=tuple(questions),
    )


def _time(value: Any, where: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise SurveyError(f'{where}: expected a time like "09:00", got {value!r}') from None


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SurveyError(f"{where}: must be a number from {low:g} to {high:g}")
    return float(value)
