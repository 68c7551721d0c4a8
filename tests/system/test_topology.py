"""The production topology, for real: two web servers (gunicorn, two workers each) and two Huey
workers in separate processes, sharing PostgreSQL and Redis, with Twilio's REST API played by a
local stand-in. Calls flow through both web servers — every webhook to one or the other, and the
ones that create things (the recording's action, its status callback, the call's status) sent to
both at once, as duplicated deliveries are — and jobs through both workers. Nothing is done
twice: one case per call, one download per recording, one text per message, one dial attempt per
bridge step, one survey call per survey.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml
from sqlalchemy import func, select, update

from calls.models import CallEvent
from cases.models import Case
from cases.workflow import CaseState
from config.settings import CONFIG_DIR
from core.db import Database
from recordings.models import Recording, RecordingState
from routing.models import BridgeAttempt
from surveys.models import CaseSurvey, SurveyAttempt
from tests.support.recordings import AUDIO
from tools.bench.callflow import Server, free_port, gunicorn, stop
from tools.databases import scratch_database
from tools.softphone import HttpResult, HttpTransport, Softphone

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "topology-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
PUBLIC = "https://hotline.example.org"  # what Twilio signs; both servers check against it
REDIS_DB = "redis://127.0.0.1:6379/14"
SERVICE_CALLS, EMERGENCY_CALLS = 10, 4


class FakeTwilio:
    """Twilio's REST API as the workers use it: messages, calls, recording media."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self.calls: list[dict[str, list[str]]] = []
        self.media: Counter[str] = Counter()
        lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                with lock:
                    if self.path.endswith("/Messages.json"):
                        fake.messages.append((form["To"][0], form["Body"][0]))
                        self._json(201, {"sid": "SM" + uuid.uuid4().hex, "status": "queued"})
                    elif self.path.endswith("/Calls.json"):
                        fake.calls.append(form)
                        self._json(201, {"sid": "CA" + uuid.uuid4().hex, "status": "queued"})
                    else:
                        self._json(404, {"message": "not here"})

            def do_GET(self) -> None:
                sid = self.path.rsplit("/", 1)[-1].removesuffix(".wav")
                with lock:
                    fake.media[sid] += 1
                self.send_response(200)
                self.send_header("Content-Type", "audio/x-wav")
                self.send_header("Content-Length", str(len(AUDIO)))
                self.end_headers()
                self.wfile.write(AUDIO)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _redis_problem() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_DB, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis does not answer at {REDIS_DB} ({type(exc).__name__})"
    return None


@contextlib.contextmanager
def processes(env: Mapping[str, str], directory: Path) -> Iterator[list[str]]:
    """Two gunicorn servers (two workers each) and two Huey workers; yields the servers' URLs."""
    servers: list[Server] = []
    workers: list[subprocess.Popen[bytes]] = []
    log = (directory / "workers.log").open("wb")
    try:
        for n in range(2):
            servers.append(gunicorn(f"web{n}", "app:create_app()", dict(env), 2, free_port()))
        for _ in range(2):
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", "import app; app.main()", "worker", "--workers", "2"],
                    env=dict(env),
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield [server.base for server in servers]
    finally:
        for server in servers:
            stop(server)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        log.close()


class TwoServers(HttpTransport):
    """Each webhook to one server or the other; the ones that create things to both at once."""

    DUPLICATED = ("/voice/cases/recorded", "/voice/recording-status", "/voice/status")

    def __init__(self, bases: list[str]) -> None:
        super().__init__(bases[0])
        self.transports = [HttpTransport(b) for b in bases]
        self.turn = 0

    def post(self, path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> HttpResult:
        self.turn += 1
        if path.startswith(self.DUPLICATED):
            with ThreadPoolExecutor(2) as pool:
                results = list(pool.map(lambda t: t.post(path, params, headers), self.transports))
            result: HttpResult = results[self.turn % 2]
            return result
        return self.transports[self.turn % 2].post(path, params, headers)


def race_sweeps(hotline: list[str], env: Mapping[str, str]) -> None:
    """Two sweeps at once (`hotline jobs run-due`), as two workers' periodic sweeps may run."""
    sweeps = [
        subprocess.Popen(  # noqa: S603
            [*hotline, "jobs", "run-due"],
            env=dict(env),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    for sweep in sweeps:
        sweep.wait(90)


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_two_web_servers_and_two_workers_do_nothing_twice(backend: str, tmp_path: Path) -> None:
    if backend != "postgresql":
        pytest.skip("the production topology is PostgreSQL and Redis")
    problem = _redis_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {problem}")
        pytest.skip(problem)
    import redis

    queue = redis.Redis.from_url(REDIS_DB)
    queue.flushdb()
    fake = FakeTwilio()
    survey = yaml.safe_load((CONFIG_DIR / "survey.yaml").read_text(encoding="utf-8"))
    survey.update(delay_minutes=0, calls_per_second=20)
    survey["calling_hours"] = {"start": "00:00", "end": "23:59"}
    survey["skip_holidays"] = False
    survey_file = tmp_path / "survey.yaml"
    survey_file.write_text(yaml.safe_dump(survey, allow_unicode=True), encoding="utf-8")
    with scratch_database(tmp_path, os.environ["TEST_DATABASE_URL"]) as url:
        env = {
            **os.environ,
            "HOTLINE_ENV": "test",
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_DB,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "PUBLIC_BASE_URL": PUBLIC,
            "TWILIO_API_BASE_URL": fake.base,
            "SPOOL_DIR": str(tmp_path / "spool"),
            "RECORDINGS_DIR": str(tmp_path / "recordings"),
            "SURVEY_FILE": str(survey_file),
            "LOG_LEVEL": "WARNING",
        }
        hotline = [sys.executable, "-c", "import app; app.main()"]
        for args in (["db", "upgrade"], ["roster", "import", str(CONFIG_DIR / "roster.yaml")]):
            subprocess.run([*hotline, *args], env=env, cwd=ROOT, check=True, capture_output=True)  # noqa: S603
        database = Database(url)
        try:
            with processes(env, tmp_path) as bases:
                run_the_day(bases, fake, database, hotline, env)
        finally:
            database.engine.dispose()
            fake.close()
            queue.flushdb()


def run_the_day(
    bases: list[str], fake: FakeTwilio, database: Database, hotline: list[str], env: dict[str, str]
) -> None:
    def call(n: int) -> int:
        emergency = n < EMERGENCY_CALLS
        phone = Softphone(
            transport=TwoServers(bases),
            public_base_url=PUBLIC,
            auth_token=TOKEN,
            account_sid=ACCOUNT,
            from_number=f"+86138001{n:05d}",
            to_number="+865996110110",
            inputs=["1"] if emergency else ["2", f"第{n}件事：路灯坏了"],
            output_func=lambda _line: None,
            media_base=fake.base,
        )
        return phone.run().exit_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(call, range(EMERGENCY_CALLS + SERVICE_CALLS)))
    assert codes == [0] * (EMERGENCY_CALLS + SERVICE_CALLS)

    with database.sessions() as session:
        cases = session.scalars(select(Case)).all()
        assert len(cases) == SERVICE_CALLS, "one case per call, though intake was posted twice"
        assert len({c.call_sid for c in cases}) == SERVICE_CALLS
        recordings = session.scalars(select(Recording)).all()
        assert len(recordings) == SERVICE_CALLS
        attempts = session.execute(
            select(BridgeAttempt.call_sid, func.count()).group_by(BridgeAttempt.call_sid)
        ).all()
        assert len(attempts) == EMERGENCY_CALLS
        assert all(n == 1 for _, n in attempts), "one dial attempt per bridge step"
        events = session.scalar(select(func.count()).select_from(CallEvent))
        assert events is not None and events > 0

    # The workers download every recording once, and send every text once.
    def all_stored() -> bool:
        with database.sessions() as session:
            states = session.scalars(select(Recording.state)).all()
            return all(s is RecordingState.STORED for s in states)

    wait_for(all_stored, 90, "both workers to store every recording")
    assert set(fake.media.values()) == {1}, f"a recording fetched twice: {fake.media}"
    wait_for(lambda: len(fake.messages) >= SERVICE_CALLS, 60, "the case texts")
    repeated = [m for m, n in Counter(fake.messages).items() if n > 1]
    assert repeated == [], f"texts sent twice: {repeated}"

    # The cases are resolved; both workers' sweeps race to survey them: one call each.
    with database.sessions() as session:
        for case in session.scalars(select(Case)):
            session.execute(
                update(Case)
                .where(Case.id == case.id)
                .values(state=CaseState.RESOLVED, resolved_at=func.now(), feedback="已处理")
            )
        session.commit()
    race_sweeps(hotline, env)  # schedules the surveys
    with database.sessions() as session:
        session.execute(update(CaseSurvey).values(due_at=func.now()))
        session.commit()
    race_sweeps(hotline, env)  # queues and dials them

    def all_dialled() -> bool:
        with database.sessions() as session:
            return session.scalar(select(func.count()).select_from(SurveyAttempt)) == SERVICE_CALLS

    wait_for(all_dialled, 90, "a survey call for every case")
    with database.sessions() as session:
        surveys = session.scalars(select(CaseSurvey)).all()
        assert len(surveys) == SERVICE_CALLS, "one survey per resolved case"
    dialled = Counter(c["To"][0] for c in fake.calls)
    assert len(dialled) == SERVICE_CALLS and set(dialled.values()) == {1}, dialled
