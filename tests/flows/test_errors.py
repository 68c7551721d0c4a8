"""When the hotline itself fails, the caller still hears something safe and nothing is kept."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calls import webhook as calls_webhook
from calls.models import Call, CallEvent
from config.settings import Settings
from core import webhooks
from ivr import service as ivr_service
from tests.support import TwilioSigner, call_params, said, twiml


def test_a_failure_after_writing_rolls_back_and_forwards_the_caller(
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_begin(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("simulated failure after the call row and its log were written")

    monkeypatch.setattr(ivr_service, "begin", broken_begin)
    root = twiml(twilio.post("/voice/incoming", call_params(settings)))

    assert any("转接人工" in text for _, text in said(root))
    dial = root.find("Dial")
    assert dial is not None
    assert [(n.text or "").strip() for n in dial.iter("Number")] == [settings.fallback_number]
    assert dial.get("callerId") == settings.hotline_number
    assert db_session.scalar(select(func.count()).select_from(Call)) == 0
    assert db_session.scalar(select(func.count()).select_from(CallEvent)) == 0


def test_without_a_fallback_number_the_caller_is_told_to_call_again(
    twilio: TwilioSigner, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        webhooks, "settings", lambda: dataclasses.replace(settings, fallback_number=None)
    )
    monkeypatch.setattr(calls_webhook, "record_webhook", _raise)
    root = twiml(twilio.post("/voice/incoming", call_params(settings)))
    assert root.find("Dial") is None
    assert ("en-US", "Sorry, all lines are busy. Please call again later.") in said(root)
    assert root.find("Hangup") is not None


def _raise(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("simulated outage")
