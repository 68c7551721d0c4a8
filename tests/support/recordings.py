"""A local stand-in for Twilio's recording media URLs, and recording-status callbacks.

A plugin of tests/conftest.py: the `media` (the stand-in) and `media_settings` (the app's
settings pointing Twilio's REST API at it) fixtures are everyone's.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cases.models import Case
from config.settings import Settings
from core.jobs import Job
from recordings.models import Recording, RecordingState
from tests.support import new_call_sid

AUDIO = b"RIFF" + bytes(range(256)) * 40  # a stand-in WAV body, 10 KiB


class FakeTwilioMedia:
    """A local stand-in for api.twilio.com's recording media URLs."""

    def __init__(self) -> None:
        self.failures_left = 0
        self.truncate = False
        self.requests: list[tuple[str, str, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                fake.requests.append((self.command, self.path, self.headers.get("Authorization")))
                if fake.failures_left:
                    fake.failures_left -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                if self.command == "DELETE":
                    self.send_response(204)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/x-wav")
                self.send_header("Content-Length", str(len(AUDIO)))
                self.end_headers()
                self.wfile.write(AUDIO[: len(AUDIO) // 2] if fake.truncate else AUDIO)

            do_GET = _serve
            do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, account: str, sid: str) -> str:
        return f"{self.base}/2010-04-01/Accounts/{account}/Recordings/{sid}"


@pytest.fixture
def media() -> Iterator[FakeTwilioMedia]:
    fake = FakeTwilioMedia()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def media_settings(app: Flask, settings: Settings, media: FakeTwilioMedia) -> Settings:
    changed = dataclasses.replace(settings, twilio_api_base_url=media.base)
    app.extensions["hotline.settings"] = changed
    return changed


def callback(settings: Settings, media: FakeTwilioMedia, **extra: str) -> dict[str, str]:
    sid = "RE" + new_call_sid()[2:]
    params = {
        "AccountSid": settings.twilio_account_sid,
        "CallSid": new_call_sid(),
        "RecordingSid": sid,
        "RecordingUrl": media.url(settings.twilio_account_sid, sid),
        "RecordingStatus": "completed",
        "RecordingDuration": "17",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
    }
    params.update(extra)
    return params


def job_for(session: Session, sid: str) -> Job:
    return session.scalars(
        select(Job).where(Job.key == sid).execution_options(populate_existing=True)
    ).one()


def attach_recording(db_session: Session, number: str, digit: str, state: RecordingState) -> str:
    """A recording of Twilio's (its SID made of `digit`) attached to case `number`, in `state`
    (a stored one has its storage key, though no file); its SID. Committed."""
    sid = "RE" + digit * 32
    db_session.add(
        Recording(
            recording_sid=sid,
            call_sid="CA" + digit * 32,
            media_url=f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{sid}",
            state=state,
            storage_key=f"2026/12/01/{sid}.wav" if state is RecordingState.STORED else None,
            content_type="audio/x-wav" if state is RecordingState.STORED else None,
        )
    )
    db_session.execute(update(Case).where(Case.number == number).values(recording_sid=sid))
    db_session.commit()
    return sid
