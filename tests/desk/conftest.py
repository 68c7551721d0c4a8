"""The desk tests' fixtures: Twilio's REST API (Prism), every request the offers send recorded."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask

from config.settings import Settings
from core import twilio_rest
from tests.support.surveys import Posted, RecordingHttpClient


@pytest.fixture
def rest(
    app: Flask, settings: Settings, prism: str, monkeypatch: pytest.MonkeyPatch
) -> list[Posted]:
    """Twilio's API is Prism; the requests the offers send."""
    app.extensions["hotline.settings"] = dataclasses.replace(settings, twilio_api_base_url=prism)
    RecordingHttpClient.sent = []
    monkeypatch.setattr(twilio_rest, "TwilioHttpClient", RecordingHttpClient)
    return RecordingHttpClient.sent
