"""Recordings: noted when Twilio reports them, downloaded by a job, verified, then kept.

Twilio's report is a durable record (core.durable), the `recording` kind registered here: the
webhook's log entry and the noted recording, with its download job, written together.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Response, abort, current_app, send_file
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from calls.durable import params_from_document, replay_event
from config.settings import Settings
from core import durable, jobs
from core.db import insert_returning, utcnow
from recordings.models import Recording, RecordingState
from recordings.storage import LocalStorage, Storage

log = logging.getLogger(__name__)

#: The durable record of Twilio's report (core.durable).
RECORDING = "recording"
DOWNLOAD = "recording.download"
DELETE_REMOTE = "recording.delete"
TWILIO_HOST = "api.twilio.com"
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """The media could not be fetched completely; the job retries with backoff."""


def storage(settings: Settings) -> Storage:
    return LocalStorage(settings.recordings_dir)


def note_recording(session: Session, params: MultiDict[str, str], settings: Settings) -> Recording:
    """Record Twilio's recordingStatusCallback and schedule the download (idempotent)."""
    sid = params["RecordingSid"]
    status = params.get("RecordingStatus", "completed")
    duration = params.get("RecordingDuration", "")
    recording = insert_returning(
        session,
        Recording,
        {
            "recording_sid": sid,
            "call_sid": params["CallSid"],
            "media_url": params.get("RecordingUrl", "")[:500],
            "source": params.get("RecordingSource", "")[:32] or None,
            "state": RecordingState.PENDING,
            "duration_s": int(duration) if duration.isascii() and duration.isdigit() else None,
            "created_at": utcnow(),
        },
        unique="recording_sid",
    ) or get(session, sid)
    if recording is None:  # only if deleted in between
        raise RuntimeError(f"recording {sid} vanished")
    if status != "completed":
        if recording.state is RecordingState.PENDING:
            recording.state = RecordingState.FAILED
            recording.last_error = f"Twilio reported RecordingStatus={status[:32]}"
        return recording
    if recording.state is RecordingState.PENDING:
        jobs.push_later(jobs.schedule(session, DOWNLOAD, sid, {"recording_sid": sid}))
    return recording


_GET = (
    select(Recording)
    .where(Recording.recording_sid == bindparam("sid"))
    .execution_options(populate_existing=True)
)


@durable.handler(RECORDING)
def noted(session: Session, record: dict[str, Any]) -> None:
    """Twilio's report of a recording (the webhook's record): logged, and the recording noted."""
    replay_event(session, record)
    note_recording(
        session, params_from_document(record["params"]), current_app.extensions["hotline.settings"]
    )


def get(session: Session, recording_sid: str) -> Recording | None:
    return session.scalars(_GET, {"sid": recording_sid}).one_or_none()


def media_url(recording: Recording, settings: Settings) -> str:
    """Where to fetch the WAV, refusing any host but Twilio's (or the configured mock)."""
    url = recording.media_url
    allowed = {TWILIO_HOST}
    if settings.twilio_api_base_url:
        allowed.add(urlsplit(settings.twilio_api_base_url).netloc)
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or parts.netloc not in allowed:
        raise DownloadError(f"refusing to fetch recording media from {parts.netloc or url!r}")
    if parts.scheme == "http" and parts.netloc == TWILIO_HOST:
        url = "https" + url[4:]
    return url if url.endswith((".wav", ".mp3")) else url + ".wav"


@jobs.handler(DOWNLOAD)
def download(session: Session, payload: dict[str, Any], settings: Settings) -> None:
    """Fetch the media with the account's credentials, store it, verify it, mark it stored."""
    recording = get(session, payload["recording_sid"])
    if recording is None or recording.state is RecordingState.STORED:
        return  # nothing to do, or done by an earlier run: jobs may run twice
    url = media_url(recording, settings)
    key = f"{recording.call_sid}/{recording.recording_sid}.wav"
    session.rollback()  # no transaction stays open across the download (see core.jobs)
    try:
        response = requests.get(
            url,
            auth=(settings.twilio_account_sid, settings.twilio_auth_token),
            timeout=(5, 60),
            stream=True,
        )
    except requests.RequestException as exc:
        raise DownloadError(f"download failed: {type(exc).__name__}") from exc
    with response:
        if response.status_code != 200:
            raise DownloadError(f"download failed: HTTP {response.status_code}")
        expected = response.headers.get("Content-Length")
        store = storage(settings)
        try:
            stored = store.put(key, response.iter_content(CHUNK))
        except requests.RequestException as exc:
            raise DownloadError(f"download broke off: {type(exc).__name__}") from exc
    if expected is not None and expected.isdigit() and int(expected) != stored.size:
        store.delete(key)
        raise DownloadError(f"truncated download: {stored.size} of {expected} bytes")
    if stored.size == 0:
        store.delete(key)
        raise DownloadError("empty download")
    if store.checksum(key) != stored:
        store.delete(key)
        raise DownloadError("the stored file does not match what was downloaded")
    recording = get(session, payload["recording_sid"])
    if recording is None:
        store.delete(key)
        return
    recording.state = RecordingState.STORED
    recording.size_bytes, recording.sha256 = stored.size, stored.sha256
    recording.storage_key, recording.stored_at = key, utcnow()
    recording.content_type = response.headers.get("Content-Type", "audio/x-wav")[:64]
    recording.last_error = None
    if settings.delete_recordings_at_twilio:
        jobs.schedule(
            session,
            DELETE_REMOTE,
            recording.recording_sid,
            {"recording_sid": recording.recording_sid},
        )
    log.info("recording %s stored (%d bytes, sha256 %s)", key, stored.size, stored.sha256[:12])


@jobs.handler(DELETE_REMOTE)
def delete_remote(session: Session, payload: dict[str, Any], settings: Settings) -> None:
    """Delete Twilio's copy, only once ours is stored and verified."""
    recording = get(session, payload["recording_sid"])
    if recording is None or recording.state is not RecordingState.STORED:
        return
    if recording.deleted_remote_at is not None:
        return
    url = media_url(recording, settings).rsplit(".", 1)[0] + ".json"
    response = requests.delete(
        url, auth=(settings.twilio_account_sid, settings.twilio_auth_token), timeout=(5, 30)
    )
    if response.status_code not in (204, 404):
        raise DownloadError(f"delete at Twilio failed: HTTP {response.status_code}")
    recording.deleted_remote_at = utcnow()


def media_response(session: Session, recording_sid: str, settings: Settings) -> Response:
    """The verified audio of a stored recording for staff (404 unknown, 409 not stored yet)."""
    recording = get(session, recording_sid[:40])
    if recording is None:
        abort(404, description=f"no recording {recording_sid[:40]!r}")
    if recording.state is not RecordingState.STORED or not recording.storage_key:
        abort(
            409,
            description=f"recording {recording.recording_sid} is not stored yet "
            f"({recording.state.value})",
        )
    log.info("recording %s served to staff", recording.recording_sid)
    stream = storage(settings).open(recording.storage_key)
    response = send_file(
        stream, mimetype=recording.content_type or "audio/x-wav", etag=recording.sha256 or False
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
