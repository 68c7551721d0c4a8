"""Recordings: noted from the callback, downloaded by a job, verified, kept; never half-stored."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from config.settings import Settings
from core import jobs
from core.db import utcnow
from core.jobs import Job, JobState
from recordings import service
from recordings.models import Recording, RecordingState
from tests.support import TwilioSigner, new_call_sid, reason
from tests.support.recordings import AUDIO, FakeTwilioMedia, callback, job_for


def test_a_recording_is_downloaded_with_the_account_credentials_and_verified(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    params = callback(media_settings, media)
    assert twilio.post("/voice/recording-status", params).status_code == 204
    recording = service.get(db_session, params["RecordingSid"])
    assert recording is not None and recording.state is RecordingState.PENDING

    assert jobs.run_due(app) == {"done": 1}
    recording = service.get(db_session, params["RecordingSid"])
    assert recording is not None
    assert recording.state is RecordingState.STORED
    assert recording.size_bytes == len(AUDIO)
    assert recording.sha256 == hashlib.sha256(AUDIO).hexdigest()
    assert recording.duration_s == 17
    path = media_settings.recordings_dir / (recording.storage_key or "")
    assert path.read_bytes() == AUDIO
    method, url_path, auth = media.requests[0]
    assert (method, url_path.endswith(".wav")) == ("GET", True)
    assert auth is not None and auth.startswith("Basic ")


def test_a_repeated_callback_schedules_one_download(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    params = callback(media_settings, media)
    twilio.post("/voice/recording-status", params)
    twilio.post("/voice/recording-status", params)
    assert jobs.run_due(app) == {"done": 1}
    assert len(media.requests) == 1
    assert jobs.run_due(app) == {}


def test_failures_retry_with_backoff_and_stay_visible(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    params = callback(media_settings, media)
    twilio.post("/voice/recording-status", params)
    media.failures_left = 1
    assert jobs.run_due(app) == {"retry": 1}
    job = job_for(db_session, params["RecordingSid"])
    assert (job.state, job.attempts) == (JobState.PENDING, 1)
    assert job.last_error is not None and "HTTP 500" in job.last_error
    recording = service.get(db_session, params["RecordingSid"])
    assert recording is not None and recording.state is RecordingState.PENDING
    assert jobs.run_due(app) == {}, "not due again before its backoff"
    assert jobs.run_due(app, now=job.due_at) == {"done": 1}


def test_a_truncated_download_is_never_marked_stored(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    params = callback(media_settings, media)
    twilio.post("/voice/recording-status", params)
    media.truncate = True
    assert jobs.run_due(app) == {"retry": 1}
    recording = service.get(db_session, params["RecordingSid"])
    assert recording is not None
    assert recording.state is RecordingState.PENDING
    assert recording.storage_key is None
    assert not list(Path(media_settings.recordings_dir).rglob("*.wav")), "no partial file kept"
    error = job_for(db_session, params["RecordingSid"]).last_error or ""
    assert "truncated" in error or "broke off" in error


def test_media_noted_before_a_host_was_allowed_is_given_up_not_retried(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    params = callback(media_settings, media)
    assert twilio.post("/voice/recording-status", params).status_code == 204
    # The mock's host is no longer Twilio's API: fetching from it again can never be allowed.
    app.extensions["hotline.settings"] = dataclasses.replace(
        media_settings, twilio_api_base_url=None
    )
    assert jobs.run_due(app) == {"failed": 1}
    job = job_for(db_session, params["RecordingSid"])
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert "refusing to fetch" in (job.last_error or "")
    recording = service.get(db_session, params["RecordingSid"])
    assert recording is not None and recording.state is RecordingState.FAILED
    assert media.requests == []


def test_an_absent_recording_is_marked_failed_without_a_job(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    params = callback(media_settings, media, RecordingStatus="absent")
    assert twilio.post("/voice/recording-status", params).status_code == 204
    recording = service.get(db_session, params["RecordingSid"])
    assert recording is not None and recording.state is RecordingState.FAILED
    assert jobs.run_due(app) == {}


def test_an_in_progress_report_waits_for_the_completed_one(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    """Twilio reports `in-progress` when a number subscribes to it: neither a failure nor a
    download yet; the `completed` report that follows fetches the recording."""
    params = callback(media_settings, media)
    started = {**params, "RecordingStatus": "in-progress", "RecordingDuration": "-1"}
    assert twilio.post("/voice/recording-status", started).status_code == 204
    recording = service.get(db_session, params["RecordingSid"])
    assert recording is not None and recording.state is RecordingState.PENDING
    assert recording.last_error is None
    assert jobs.run_due(app) == {}, "nothing to fetch yet"

    assert twilio.post("/voice/recording-status", params).status_code == 204
    assert jobs.run_due(app) == {"done": 1}
    stored = service.get(db_session, params["RecordingSid"])
    assert stored is not None and stored.state is RecordingState.STORED


def test_twilios_copy_is_deleted_only_after_ours_is_verified(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    app.extensions["hotline.settings"] = dataclasses.replace(
        media_settings, delete_recordings_at_twilio=True
    )
    params = callback(media_settings, media)
    twilio.post("/voice/recording-status", params)
    assert jobs.run_due(app) == {"done": 1}  # the download
    assert jobs.run_due(app) == {"done": 1}  # then the delete
    assert [m for m, _, _ in media.requests] == ["GET", "DELETE"]
    recording = service.get(db_session, params["RecordingSid"])
    assert recording is not None and recording.deleted_remote_at is not None


FORGED_CALL_SID = "CA../../" + "0" * 26  # 34 characters, 'CA' first: not a CallSid


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"RecordingSid": "RE1"}, "RecordingSid"),
        ({"RecordingSid": "RE" + "A" * 32}, "RecordingSid"),
        ({"CallSid": "nope"}, "CallSid"),
        ({"CallSid": FORGED_CALL_SID}, "CallSid"),
        ({"AccountSid": "AC" + "f" * 32}, "AccountSid: not this hotline's"),
        ({"AccountSid": ""}, "AccountSid"),
        ({"RecordingUrl": "http://169.254.169.254/latest/meta-data"}, "RecordingUrl"),
        ({"RecordingUrl": ""}, "RecordingUrl"),
        ({"RecordingUrl": "https://api.twilio.com/2010-04-01/Recordings/RE" + "0" * 32}, "this"),
        ({"RecordingDuration": "²"}, "RecordingDuration"),
        ({"RecordingDuration": "１７"}, "RecordingDuration"),
        ({"RecordingDuration": "-5"}, "RecordingDuration"),
        ({"RecordingDuration": "9" * 30}, "RecordingDuration"),
        ({"RecordingStatus": "bogus"}, "RecordingStatus"),
    ],
)
def test_bad_recording_callbacks_are_refused_and_nothing_is_written(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
    change: dict[str, str],
    why: str,
) -> None:
    params = {**callback(media_settings, media), **change}
    response = twilio.post("/voice/recording-status", params)
    assert response.status_code == 400
    assert why in reason(response)
    assert db_session.scalars(select(Recording)).all() == []
    assert db_session.scalars(select(Job)).all() == []
    assert jobs.run_due(app) == {}
    assert media.requests == []


def test_an_absent_recording_without_a_duration_is_noted(
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    params = callback(media_settings, media, RecordingStatus="absent", RecordingDuration="-1")
    assert twilio.post("/voice/recording-status", params).status_code == 204
    recording = service.get(db_session, params["RecordingSid"])
    assert recording is not None
    assert (recording.state, recording.duration_s) == (RecordingState.FAILED, None)


class GoneMedia:
    """A stand-in for Twilio's API that answers 404: the recording was deleted there."""

    def __init__(self) -> None:
        self.requests = 0
        gone = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                gone.requests += 1
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def gone(app: Flask, settings: Settings) -> Iterator[tuple[GoneMedia, Settings]]:
    fake = GoneMedia()
    changed = dataclasses.replace(settings, twilio_api_base_url=fake.base)
    app.extensions["hotline.settings"] = changed
    yield fake, changed
    fake.server.shutdown()
    fake.server.server_close()


def test_a_recording_twilio_no_longer_has_is_given_up_at_once(
    app: Flask,
    twilio: TwilioSigner,
    gone: tuple[GoneMedia, Settings],
    db_session: Session,
) -> None:
    fake, settings = gone
    sid = "RE" + new_call_sid()[2:]
    url = f"{fake.base}/2010-04-01/Accounts/{settings.twilio_account_sid}/Recordings/{sid}"
    params = {
        "AccountSid": settings.twilio_account_sid,
        "CallSid": new_call_sid(),
        "RecordingSid": sid,
        "RecordingUrl": url,
        "RecordingStatus": "completed",
        "RecordingDuration": "3",
    }
    assert twilio.post("/voice/recording-status", params).status_code == 204
    assert jobs.run_due(app) == {"failed": 1}
    job = job_for(db_session, sid)
    assert (job.state, job.attempts) == (JobState.FAILED, 1), "no retry: 404 is for good"
    assert "HTTP 404" in (job.last_error or "")
    recording = service.get(db_session, sid)
    assert recording is not None and recording.state is RecordingState.FAILED
    assert "HTTP 404" in (recording.last_error or "")
    assert fake.requests == 1
    assert jobs.run_due(app, now=utcnow() + dt.timedelta(days=1)) == {}


def test_a_recording_noted_with_a_malformed_call_sid_is_given_up(
    app: Flask, media_settings: Settings, media: FakeTwilioMedia, db_session: Session
) -> None:
    # As the webhook noted it before its parameters were checked (a row of an older release).
    params = callback(media_settings, media, CallSid=FORGED_CALL_SID)
    service.note_recording(db_session, MultiDict(params), media_settings)
    db_session.commit()
    assert jobs.run_due(app) == {"failed": 1}
    job = job_for(db_session, params["RecordingSid"])
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert "malformed" in (job.last_error or "")
    assert media.requests == []
    assert not list(Path(media_settings.recordings_dir).rglob("*")), "nothing stored anywhere"


STAFF_TOKEN = "staff-token-0123456789abcdefghij"


def test_recordings_are_served_to_staff_with_the_token_only(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    app.extensions["hotline.settings"] = dataclasses.replace(
        media_settings, staff_api_token=STAFF_TOKEN
    )
    params = callback(media_settings, media)
    twilio.post("/voice/recording-status", params)
    client = twilio.client
    url = f"/api/v1/recordings/{params['RecordingSid']}/media"
    staff = {"Authorization": f"Bearer {STAFF_TOKEN}"}

    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get(url, headers=staff).status_code == 409, "not stored yet"
    jobs.run_due(app)
    with client.get(url, headers=staff) as response:
        assert response.status_code == 200
        assert response.data == AUDIO
        assert response.headers["Cache-Control"] == "private, no-store"
    meta = client.get(f"/api/v1/recordings/{params['RecordingSid']}", headers=staff).json
    assert meta is not None
    assert (meta["state"], meta["size_bytes"]) == ("stored", len(AUDIO))
    assert client.get("/api/v1/recordings/RE" + "0" * 32, headers=staff).status_code == 404


def test_without_a_valid_token_nothing_is_served(
    twilio: TwilioSigner, media_settings: Settings
) -> None:
    url = "/api/v1/recordings/RE" + "0" * 32
    assert twilio.client.get(url).status_code == 401
    forged = {"Authorization": "Bearer " + "x" * 40}
    assert twilio.client.get(url, headers=forged).status_code == 401
