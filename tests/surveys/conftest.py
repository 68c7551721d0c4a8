"""The survey tests' fixtures: the surveys' clock, a fast survey, and Twilio's API (Prism) with
every request the dialer sends recorded. Their helpers are in tests/support/surveys.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from flask import Flask

from config.settings import CONFIG_DIR, Settings
from core import twilio_rest
from surveys import schedule
from tests.support.surveys import FIRST_CALL, Clock, Posted, RecordingHttpClient


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock(FIRST_CALL)
    monkeypatch.setattr(schedule, "now", fixed)
    return fixed


@pytest.fixture
def survey_file(tmp_path: Path) -> Path:
    """The shipped survey, paced at 20 calls a second so that tests don't wait."""
    doc = yaml.safe_load((CONFIG_DIR / "survey.yaml").read_text(encoding="utf-8"))
    doc["calls_per_second"] = 20
    path = tmp_path / "survey.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def calls(
    app: Flask,
    settings: Settings,
    prism: str,
    survey_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> list[Posted]:
    """Twilio's API is Prism; the calls.create requests the dialer sends."""
    replaced = dataclasses.replace(settings, twilio_api_base_url=prism, survey_file=survey_file)
    app.extensions["hotline.settings"] = replaced
    RecordingHttpClient.sent = []
    monkeypatch.setattr(twilio_rest, "TwilioHttpClient", RecordingHttpClient)
    return RecordingHttpClient.sent
