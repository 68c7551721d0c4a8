"""Background jobs: the row is the truth; a killed worker or a flushed queue loses nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from app import create_app
from config.settings import Settings
from core import jobs, migrate
from core.db import database, utcnow
from core.jobs import Job, JobState
from recordings import service
from recordings.models import RecordingState
from tests.support import make_settings, new_call_sid

ROOT = Path(__file__).resolve().parents[2]
CALLS: list[str] = []


@jobs.handler("test.note")
def _note(session: Session, payload: dict[str, Any], settings: Settings) -> None:
    if payload.get("fail"):
        raise RuntimeError("simulated failure")
    CALLS.append(payload["value"])


def job(session: Session, key: str) -> Job:
    return session.scalars(
        select(Job).where(Job.key == key).execution_options(populate_existing=True)
    ).one()


def test_scheduling_the_same_job_twice_keeps_one(app: Flask, db_session: Session) -> None:
    jobs.schedule(db_session, "test.note", "k1", {"value": "a"})
    jobs.schedule(db_session, "test.note", "k1", {"value": "b"})
    db_session.commit()
    CALLS.clear()
    assert jobs.run_due(app) == {"done": 1}
    assert CALLS == ["a"]
    assert job(db_session, "k1").state is JobState.DONE


def test_a_job_delivered_twice_runs_once(
    app: Flask, db_session: Session, settings: Settings
) -> None:
    jobs.schedule(db_session, "test.note", "k2", {"value": "x"})
    db_session.commit()
    job_id = job(db_session, "k2").id
    CALLS.clear()
    db = database(app)
    assert jobs.run_job(db, settings, job_id) == "done"
    assert jobs.run_job(db, settings, job_id) == "skipped"
    assert CALLS == ["x"]


def test_a_job_not_yet_due_waits(app: Flask, db_session: Session) -> None:
    later = utcnow() + dt.timedelta(hours=1)
    jobs.schedule(db_session, "test.note", "k3", {"value": "y"}, due_at=later)
    db_session.commit()
    assert jobs.run_due(app) == {}
    assert jobs.run_due(app, now=later) == {"done": 1}


def test_a_job_that_keeps_failing_ends_failed_and_visible(app: Flask, db_session: Session) -> None:
    jobs.schedule(db_session, "test.note", "k4", {"fail": True}, max_attempts=2)
    db_session.commit()
    assert jobs.run_due(app) == {"retry": 1}
    first = job(db_session, "k4")
    assert first.due_at > utcnow(), "backed off"
    assert jobs.run_due(app, now=first.due_at) == {"failed": 1}
    final = job(db_session, "k4")
    assert (final.state, final.attempts) == (JobState.FAILED, 2)
    assert final.last_error == "RuntimeError: simulated failure"


def test_a_crashed_workers_job_runs_again_after_its_lease(
    app: Flask, db_session: Session, settings: Settings
) -> None:
    jobs.schedule(db_session, "test.note", "k5", {"value": "z"})
    db_session.commit()
    crashed = job(db_session, "k5")
    crashed.state, crashed.attempts = JobState.RUNNING, 1
    crashed.locked_until = utcnow() + dt.timedelta(seconds=settings.job_lease_s)
    db_session.commit()
    assert jobs.run_due(app) == {}, "still leased"
    CALLS.clear()
    assert jobs.run_due(app, now=utcnow() + dt.timedelta(seconds=settings.job_lease_s + 1)) == {
        "done": 1
    }
    assert CALLS == ["z"]


# ---------------------------------------------------------------- a real worker, killed


class SlowMedia:
    """Twilio's media URL, slow the first time (so a worker can be killed mid-download)."""

    def __init__(self) -> None:
        self.hits = 0
        self.first_hit = threading.Event()
        media = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                media.hits += 1
                if media.hits == 1:
                    media.first_hit.set()
                    time.sleep(30)  # the worker is killed while it waits here
                body = b"RIFF" + b"\x01" * 4096
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def slow_media() -> Iterator[SlowMedia]:
    media = SlowMedia()
    yield media
    media.server.shutdown()
    media.server.server_close()


def test_a_killed_worker_and_a_flushed_queue_lose_no_job(
    empty_url: str, tmp_path: Path, slow_media: SlowMedia
) -> None:
    migrate.upgrade(migrate.alembic_config(url=empty_url))
    settings = dataclasses.replace(
        make_settings(empty_url, tmp_path),
        twilio_api_base_url=slow_media.base,
        job_lease_s=2,
    )
    app = create_app(settings)
    sid = "RE" + new_call_sid()[2:]
    url = f"{slow_media.base}/2010-04-01/Accounts/{settings.twilio_account_sid}/Recordings/{sid}"
    with app.app_context():
        session = database(app).sessions()
        params = MultiDict({"RecordingSid": sid, "CallSid": new_call_sid(), "RecordingUrl": url})
        service.note_recording(session, params, settings)
        session.commit()
        session.close()

    env = {
        **os.environ,
        "DATABASE_URL": empty_url,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "TWILIO_API_BASE_URL": slow_media.base,
        "SPOOL_DIR": str(settings.spool_dir),
        "RECORDINGS_DIR": str(settings.recordings_dir),
        "JOB_LEASE_S": "2",
        "HOTLINE_ENV": "test",
    }

    def worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", "import app; app.main()", "worker", "--workers", "1"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    first = worker()
    try:
        assert slow_media.first_hit.wait(30), "the worker never started the download"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    with app.app_context():
        session = database(app).sessions()
        assert job(session, sid).state is JobState.RUNNING, "killed mid-job"
        session.close()
        app.extensions["hotline.huey"].flush()  # and the queue loses every message

    time.sleep(2.5)  # the dead worker's lease runs out
    second = worker()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with app.app_context():
                session = database(app).sessions()
                done = job(session, sid).state is JobState.DONE
                session.close()
            if done:
                break
            time.sleep(0.3)
    finally:
        second.terminate()
        second.wait(10)
    with app.app_context():
        session = database(app).sessions()
        final = job(session, sid)
        recording = service.get(session, sid)
        session.close()
    database(app).engine.dispose()
    assert final.state is JobState.DONE
    assert final.attempts == 2, "ran again exactly once after the crash"
    assert recording is not None and recording.state is RecordingState.STORED
    assert slow_media.hits == 2


def test_with_redis_the_queue_is_redis_huey(tmp_path: Path) -> None:
    """REDIS_URL selects RedisHuey; a pushed job reaches Redis and a worker can read it back."""
    import redis
    from huey import RedisHuey

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and Redis is not running on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings = dataclasses.replace(
        make_settings(f"sqlite:///{tmp_path / 'x.db'}", tmp_path), redis_url=url
    )
    app = create_app(settings)
    huey = app.extensions["hotline.huey"]
    assert isinstance(huey, RedisHuey)
    huey.flush()
    app.extensions["hotline.huey.run_job"](42)
    assert huey.pending_count() == 1
    message = huey.dequeue()
    assert message is not None and message.args == (42,)
    huey.flush()
    database(app).engine.dispose()
