"""Recordings: noted when Twilio reports them, downloaded by a job, verified, then kept.

Twilio's report is a durable record (core.durable), the `recording` kind registered here: the
webhook's log entry and the noted recording, with its download job, written together.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from typing import Any, NoReturn
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
from core.inputs import BadInput, digits_or_none, whole_number
from core.webhooks import CALL_SID_RE, BadWebhook, our_account
from recordings.models import Recording, RecordingState
from recordings.storage import LocalStorage, Storage

log = logging.getLogger(__name__)

#: The durable record of Twilio's report (core.durable).
RECORDING = "recording"
DOWNLOAD = "recording.download"
DELETE_REMOTE = "recording.delete"
TWILIO_HOST = "api.twilio.com"
CHUNK = 1 << 16
RECORDING_SID_RE = re.compile(r"^RE[0-9a-f]{32}$")
#: Every RecordingStatus Twilio documents.
RECORDING_STATUSES = ("in-progress", "completed", "absent", "failed")
#: Twilio's recordings last at most a day; anything longer is not Twilio's.
MAX_DURATION_S = 86_400
#: HTTP statuses after which fetching the media again cannot succeed.
GONE = (404, 410)


class DownloadError(RuntimeError):
    """The media could not be fetched completely; the job retries with backoff."""


def storage(settings: Settings) -> Storage:
    return LocalStorage(settings.recordings_dir)


@dataclasses.dataclass(frozen=True)
class RecordingReport:
    """Twilio's recordingStatusCallback, validated: nothing is written for one that fails."""

    recording_sid: str
    call_sid: str
    status: str
    media_url: str
    duration_s: int | None

    @classmethod
    def from_params(cls, params: Mapping[str, str], settings: Settings) -> RecordingReport:
        """AccountSid (ours), CallSid, RecordingSid, RecordingStatus, RecordingUrl (Twilio's
        host, this recording) and the numbers must be right, else BadWebhook names what is not."""
        our_account(params, settings.twilio_account_sid)
        call_sid = params.get("CallSid", "")
        if not CALL_SID_RE.match(call_sid):
            raise BadWebhook("CallSid: expected 'CA' followed by 32 lowercase hex digits")
        sid = params.get("RecordingSid", "")
        if not RECORDING_SID_RE.match(sid):
            raise BadWebhook("RecordingSid: expected 'RE' followed by 32 lowercase hex digits")
        status = params.get("RecordingStatus", "completed")
        if status not in RECORDING_STATUSES:
            raise BadWebhook(
                f"RecordingStatus: {status[:40]!r} is not one of {', '.join(RECORDING_STATUSES)}"
            )
        url = params.get("RecordingUrl", "")
        if url or status == "completed":
            why = _unfit_media_url(url, sid, settings)
            if why:
                raise BadWebhook(f"RecordingUrl: {why}")
        return cls(sid, call_sid, status, url, _duration(params.get("RecordingDuration", "")))


def _duration(raw: str) -> int | None:
    """RecordingDuration in whole seconds (core.inputs); absent or -1 (Twilio's "unknown",
    e.g. for an absent recording) is None, anything else malformed raises BadWebhook."""
    if raw in ("", "-1"):
        return None
    try:
        return whole_number(raw, "RecordingDuration", 0, MAX_DURATION_S)
    except BadInput as exc:
        raise BadWebhook(str(exc)) from None


def _allowed_hosts(settings: Settings) -> set[str]:
    """Where recording media may be fetched from: Twilio's API (or the configured mock)."""
    allowed = {TWILIO_HOST}
    if settings.twilio_api_base_url:
        allowed.add(urlsplit(settings.twilio_api_base_url).netloc)
    return allowed


def _unfit_media_url(url: str, sid: str, settings: Settings) -> str | None:
    """Why `url` is not recording `sid`'s media at Twilio (None when it is)."""
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or parts.netloc not in _allowed_hosts(settings):
        return f"not Twilio's API host ({(parts.netloc or url)[:80]!r})"
    if parts.query or parts.fragment or parts.path.rsplit("/", 1)[-1].split(".")[0] != sid:
        return "not the media of this RecordingSid"
    return None


def note_recording(session: Session, params: MultiDict[str, str], settings: Settings) -> Recording:
    """Record Twilio's recordingStatusCallback and schedule the download (idempotent).

    `params` were checked by `RecordingReport.from_params` before they were recorded."""
    sid = params["RecordingSid"]
    status = params.get("RecordingStatus", "completed")
    recording = insert_returning(
        session,
        Recording,
        {
            "recording_sid": sid,
            "call_sid": params["CallSid"],
            "media_url": params.get("RecordingUrl", "")[:500],
            "source": params.get("RecordingSource", "")[:32] or None,
            "state": RecordingState.PENDING,
            "duration_s": digits_or_none(params.get("RecordingDuration"), 6),
            "created_at": utcnow(),
        },
        unique="recording_sid",
    ) or get(session, sid)
    if recording is None:  # only if deleted in between
        raise RuntimeError(f"recording {sid} vanished")
    if status == "in-progress":  # a progress report: the `completed` one follows
        return recording
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
    """Where to fetch the WAV, refusing any host but Twilio's (or the configured mock), and any
    recording with a malformed SID (noted before webhooks were checked): jobs.GiveUp, as no
    retry could fetch it."""
    url = recording.media_url
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or parts.netloc not in _allowed_hosts(settings):
        raise jobs.GiveUp(f"refusing to fetch recording media from {parts.netloc or url!r}")
    if not RECORDING_SID_RE.match(recording.recording_sid) or not CALL_SID_RE.match(
        recording.call_sid
    ):
        raise jobs.GiveUp(f"malformed RecordingSid or CallSid of recording {recording.id}")
    if parts.scheme == "http" and parts.netloc == TWILIO_HOST:
        url = "https" + url[4:]
    return url if url.endswith((".wav", ".mp3")) else url + ".wav"


@jobs.handler(DOWNLOAD)
def download(session: Session, payload: dict[str, Any], settings: Settings) -> None:
    """Fetch the media with the account's credentials, store it, verify it, mark it stored."""
    recording = get(session, payload["recording_sid"])
    if recording is None or recording.state is RecordingState.STORED:
        return  # nothing to do, or done by an earlier run: jobs may run twice
    try:
        url = media_url(recording, settings)
    except jobs.GiveUp as exc:
        _give_up(session, recording.recording_sid, str(exc))
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
        if response.status_code in GONE:
            _give_up(session, payload["recording_sid"], f"HTTP {response.status_code} from Twilio")
        if response.status_code != 200:
            raise DownloadError(f"download failed: HTTP {response.status_code}")
        expected = response.headers.get("Content-Length")
        store = storage(settings)
        try:
            stored = store.put(key, response.iter_content(CHUNK))
        except requests.RequestException as exc:
            raise DownloadError(f"download broke off: {type(exc).__name__}") from exc
    length = digits_or_none(expected, 18)
    if length is not None and length != stored.size:
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


def _give_up(session: Session, recording_sid: str, reason: str) -> NoReturn:
    """Mark the recording failed for good (committed) and end its job: jobs.GiveUp."""
    recording = get(session, recording_sid)
    if recording is not None and recording.state is RecordingState.PENDING:
        recording.state, recording.last_error = RecordingState.FAILED, reason[:2000]
    session.commit()
    raise jobs.GiveUp(f"recording {recording_sid[:40]}: {reason}")


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
