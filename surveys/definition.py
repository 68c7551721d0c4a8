"""The survey definition (config/survey.yaml), validated with errors naming the field."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from config.files import ConfigFileError, load_config_file, require_mapping

LANGUAGES = ("zh", "en")
MAX_QUESTIONS = 4
#: Spoken digits a caller may say instead of pressing the key.
_SPOKEN_DIGITS = {
    **{str(d): str(d) for d in range(10)},
    **dict(zip("零一二三四五六七八九", "0123456789", strict=True)),
    "两": "2",
    **dict(
        zip(
            ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
            "0123456789",
            strict=True,
        )
    ),
}
_E = TypeVar("_E", bound=enum.StrEnum)
_SCORE_SUFFIXES = ("分", "号", " points", " point", " stars", " star")


class SurveyError(ConfigFileError):
    """The survey file is invalid; the message names the field."""


class QuestionKind(enum.StrEnum):
    CHOICE = "choice"
    COMMENT = "comment"


class Ask(enum.StrEnum):
    ALWAYS = "always"
    WHEN_NEGATIVE = "when_negative"


@dataclasses.dataclass(frozen=True)
class Answer:
    key: str
    value: str
    #: False: the caller is not content, and the case goes back to be redone (重办).
    positive: bool
    words: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Question:
    id: str
    kind: QuestionKind
    prompt: Mapping[str, str]
    answers: tuple[Answer, ...] = ()
    ask: Ask = Ask.ALWAYS
    #: The answers' values are ratings from 1 to 5.
    score: bool = False

    def by_key(self, key: str) -> Answer | None:
        return next((a for a in self.answers if a.key == key), None)

    def understand(self, speech: str) -> Answer | None:
        """The answer `speech` means: a spoken key, else the answer with the longest word in it."""
        text = _normalize(speech)
        if not text:
            return None
        spoken = text
        for suffix in _SCORE_SUFFIXES:
            spoken = spoken.removesuffix(suffix)
        if spoken.strip() in _SPOKEN_DIGITS:
            return self.by_key(_SPOKEN_DIGITS[spoken.strip()])
        best: tuple[int, Answer] | None = None
        for answer in self.answers:
            for word in answer.words:
                if _contains(text, word) and (best is None or len(word) > best[0]):
                    best = (len(word), answer)
        return best[1] if best else None


@dataclasses.dataclass(frozen=True)
class Survey:
    delay: dt.timedelta
    hours_start: dt.time
    hours_end: dt.time
    skip_holidays: bool
    attempts: int
    window: dt.timedelta
    calls_per_second: float
    ring_seconds: int
    opt_out_key: str
    #: The longest a survey call may last (Twilio's TimeLimit): a machine our hang-up missed,
    #: or a line left open, ends there.
    time_limit_s: int
    questions: tuple[Question, ...]

    def question(self, index: int) -> Question | None:
        return self.questions[index] if 0 <= index < len(self.questions) else None


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
    specs = doc.get("questions") or []
    if not isinstance(specs, list) or not 1 <= len(specs) <= MAX_QUESTIONS:
        raise SurveyError(f"questions: one to {MAX_QUESTIONS} questions (more and people hang up)")
    questions = tuple(_question(spec, f"questions[{i}]") for i, spec in enumerate(specs))
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise SurveyError("questions: two questions have the same id")
    if questions[0].kind is not QuestionKind.CHOICE or questions[0].ask is not Ask.ALWAYS:
        raise SurveyError("questions[0]: the first question must be a choice asked always")
    opt_out = str(doc.get("opt_out_key", "9"))
    if opt_out not in "0123456789*#" or len(opt_out) != 1:
        raise SurveyError("opt_out_key: a single key (0-9, * or #)")
    if any(q.by_key(opt_out) for q in questions):
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
        ring_seconds=int(_number(doc.get("ring_seconds", 25), "ring_seconds", 10, 60)),
        opt_out_key=opt_out,
        time_limit_s=_whole(doc.get("time_limit_s", 300), "time_limit_s", 60, 3600),
        questions=questions,
    )


def _question(spec: Any, where: str) -> Question:
    spec = require_mapping(spec, where, SurveyError)
    qid = spec.get("id")
    if not isinstance(qid, str) or not qid.isidentifier() or len(qid) > 32:
        raise SurveyError(f"{where}.id: must be a short identifier")
    kind = _choice(QuestionKind, spec.get("kind", "choice"), f"{where}.kind")
    ask = _choice(Ask, spec.get("ask", "always"), f"{where}.ask")
    prompt = require_mapping(spec.get("prompt"), f"{where}.prompt", SurveyError)
    for language in LANGUAGES:
        if not isinstance(prompt.get(language), str) or not prompt[language].strip():
            raise SurveyError(f"{where}.prompt: no text for language {language!r}")
    answers: list[Answer] = []
    if kind is QuestionKind.CHOICE:
        raw_answers = spec.get("answers")
        if not isinstance(raw_answers, list) or len(raw_answers) < 2:
            raise SurveyError(f"{where}.answers: a choice needs at least two answers")
        answers = [_answer(a, f"{where}.answers[{j}]") for j, a in enumerate(raw_answers)]
        keys = [a.key for a in answers]
        if len(set(keys)) != len(keys):
            raise SurveyError(f"{where}.answers: two answers have the same key")
        if not any(a.positive for a in answers) or all(a.positive for a in answers):
            raise SurveyError(f"{where}.answers: needs a positive and a negative answer")
    elif "answers" in spec:
        raise SurveyError(f"{where}.answers: a comment question has no answers")
    score = bool(spec.get("score", False))
    if score and not all(a.value in {"1", "2", "3", "4", "5"} for a in answers):
        raise SurveyError(f"{where}.answers: with score: true, every value is a rating 1 to 5")
    return Question(
        id=qid, kind=kind, prompt=dict(prompt), answers=tuple(answers), ask=ask, score=score
    )


def _answer(spec: Any, where: str) -> Answer:
    spec = require_mapping(spec, where, SurveyError)
    key = str(spec.get("key", ""))
    if len(key) != 1 or key not in "0123456789":
        raise SurveyError(f"{where}.key: a single digit, got {spec.get('key')!r}")
    value = spec.get("value")
    if not isinstance(value, str) or not value.strip() or len(value) > 32:
        raise SurveyError(f'{where}.value: a short text, e.g. "yes"')
    positive = spec.get("positive")
    if not isinstance(positive, bool):
        raise SurveyError(f"{where}.positive: true or false")
    words = spec.get("words", [])
    if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
        raise SurveyError(f"{where}.words: a list of words or phrases")
    return Answer(
        key=key, value=value, positive=positive, words=tuple(_normalize(w) for w in words)
    )


def _normalize(text: str) -> str:
    """Lower case, full-width folded, punctuation dropped, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", text).lower()
    kept = "".join(c if c.isalnum() or c.isspace() else " " for c in folded)
    return " ".join(kept.split())


def _contains(text: str, word: str) -> bool:
    """Whether `word` is in `text`: as a substring in Chinese, as whole words in English."""
    if word.isascii():
        return re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", text) is not None
    return word in text


def _choice(kind: type[_E], value: Any, where: str) -> _E:
    try:
        return kind(str(value))
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise SurveyError(f"{where}: one of {known}, got {value!r}") from None


def _time(value: Any, where: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise SurveyError(f'{where}: expected a time like "09:00", got {value!r}') from None


def _whole(value: Any, where: str, low: int, high: int) -> int:
    """A whole number from `low` to `high` (Twilio wants integer seconds)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SurveyError(f"{where}: must be whole seconds from {low} to {high}, got {value!r}")
    return value


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SurveyError(f"{where}: must be a number from {low:g} to {high:g}")
    return float(value)
