"""Recordings: noted from the callback, downloaded by a job, verified, kept; never half-stored."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from config.settings import Settings
from core import jobs
from core.jobs import JobState
from recordings import service
from recordings.models import RecordingState
from tests.support import TwilioSigner
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


def test_media_from_any_other_host_is_refused(
    app: Flask,
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    db_session: Session,
) -> None:
    params = callback(media_settings, media, RecordingUrl="http://169.254.169.254/latest/meta-data")
    twilio.post("/voice/recording-status", params)
    assert jobs.run_due(app) == {"retry": 1}
    assert "refusing" in (job_for(db_session, params["RecordingSid"]).last_error or "")
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


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"RecordingSid": "RE1"}, "RecordingSid"), ({"CallSid": "nope"}, "CallSid")],
)
def test_bad_recording_callbacks_are_refused(
    twilio: TwilioSigner,
    media_settings: Settings,
    media: FakeTwilioMedia,
    change: dict[str, str],
    reason: str,
) -> None:
    params = {**callback(media_settings, media), **change}
    response = twilio.post("/voice/recording-status", params)
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)


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
