"""Faults in a real deployment: PostgreSQL becomes unreachable in the middle of the day; Redis
is down.

The hotline runs under gunicorn and reaches PostgreSQL through a TCP proxy the test controls.
The proxy is cut (every connection dropped, new ones refused): an emergency caller is still put
through to the officer on duty, a service request is still taken, and every webhook is written
to the local spool. The proxy comes back: the spool is replayed and the database holds every
call, every webhook, the bridge attempts and the case — nothing is lost.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from calls.models import Call, CallEvent, CallStatus
from cases.models import Case
from config.settings import CONFIG_DIR
from core import jobs
from core.db import Database, database
from core.jobs import JobState
from recordings import service as recordings
from recordings.models import RecordingState
from routing.models import BridgeAttempt
from tests.support import TwilioSigner, app_in_transaction, make_settings
from tests.support.recordings import FakeTwilioMedia, callback, job_for
from tools.bench.callflow import served
from tools.databases import scratch_database
from tools.softphone import HttpTransport, Softphone

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "faults-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
HOTLINE = "+865996110110"


class TcpProxy:
    """A TCP relay to PostgreSQL that the test can cut and restore."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.open = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def cut(self) -> None:
        """Drop every connection and refuse new ones: the database is unreachable."""
        self.open = False
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@contextlib.contextmanager
def hotline_server(env: dict[str, str]) -> Iterator[str]:
    """The hotline under gunicorn (two workers), as `hotline bench` starts it; yields its URL."""
    with served("hotline", "app:create_app()", env, 2) as server:
        yield server.base


def call(base: str, inputs: list[str], n: int) -> tuple[int, list[str], int, set[str]]:
    """One whole call: exit code, what was heard, how many webhooks were posted, and the
    CallSids they carried (the caller's leg and an officer's)."""
    phone = Softphone(
        transport=HttpTransport(base),
        public_base_url=base,
        auth_token=TOKEN,
        account_sid=ACCOUNT,
        from_number=f"+86138002{n:05d}",
        to_number=HOTLINE,
        inputs=inputs,
        output_func=lambda _line: None,
    )
    result = phone.run()
    sids = {params["CallSid"] for _, params in result.requests}
    return result.exit_code, result.transcript, len(result.requests), sids


def test_postgresql_unreachable_mid_day_loses_nothing(backend: str, tmp_path: Path) -> None:
    if backend != "postgresql":
        pytest.skip("this fault is PostgreSQL's (SQLite is a file beside the process)")
    target = make_url(os.environ["TEST_DATABASE_URL"])
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    try:
        with scratch_database(tmp_path, os.environ["TEST_DATABASE_URL"]) as direct_url:
            proxied = make_url(direct_url).set(host="127.0.0.1", port=proxy.port)
            env = {
                **os.environ,
                "HOTLINE_ENV": "test",
                "DATABASE_URL": proxied.render_as_string(hide_password=False),
                "DB_TIMEOUT_S": "1",
                "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_ACCOUNT_SID": ACCOUNT,
                "TWILIO_API_BASE_URL": "http://127.0.0.1:9",
                "SPOOL_DIR": str(tmp_path / "spool"),
                "RECORDINGS_DIR": str(tmp_path / "recordings"),
                "LOG_LEVEL": "WARNING",
            }
            hotline = [sys.executable, "-c", "import app; app.main()"]
            for args in (["db", "upgrade"], ["roster", "import", str(CONFIG_DIR / "roster.yaml")]):
                subprocess.run(  # noqa: S603
                    [*hotline, *args], env=env, cwd=ROOT, check=True, capture_output=True
                )
            with hotline_server(env) as base:
                for n in range(4):  # both workers have met the roster (and written its snapshot)
                    assert call(base, ["1"], n)[0] == 0

                proxy.cut()
                code, heard, posted, emergency_sids = call(base, ["1"], 10)
                assert code == 0, "\n".join(heard)
                assert any(line.startswith("☎ dialing +86138059901") for line in heard), heard
                assert any("connected" in line for line in heard), "the officer took the call"
                code, heard_service, posted_service, service_sids = call(
                    base, ["2", "路灯坏了，人民路"], 11
                )
                assert code == 0, "\n".join(heard_service)
                assert list((tmp_path / "spool").glob("*.jsonl")), "the outage went to the spool"

                proxy.restore()
                database = Database(direct_url)
                try:
                    deadline = time.monotonic() + 60
                    while True:  # requests after the breaker's pause replay the spool
                        with contextlib.suppress(OSError):
                            urllib.request.urlopen(f"{base}/healthz", timeout=2).close()  # noqa: S310
                        with database.sessions() as session:
                            events = session.scalar(
                                select(func.count())
                                .select_from(CallEvent)
                                .where(CallEvent.call_sid.in_(emergency_sids | service_sids))
                            )
                            case = session.scalar(
                                select(Case).where(Case.call_sid.in_(service_sids))
                            )
                        if events == posted + posted_service and case is not None:
                            break
                        if time.monotonic() > deadline:
                            with database.sessions() as session:
                                routes = session.scalars(
                                    select(CallEvent.route).where(
                                        CallEvent.call_sid.in_(emergency_sids | service_sids)
                                    )
                                ).all()
                            pytest.fail(
                                f"not replayed: {events} of {posted + posted_service} webhooks "
                                f"({sorted(routes)}), case {case}, spool "
                                f"{sorted(p.name for p in (tmp_path / 'spool').iterdir())}"
                            )
                        time.sleep(0.5)
                    with database.sessions() as session:
                        for sid in emergency_sids | service_sids:
                            stored = session.scalar(select(Call).where(Call.call_sid == sid))
                            assert stored is not None, f"call {sid} lost"
                        callers = session.scalars(
                            select(Call.status).where(
                                Call.call_sid.in_(emergency_sids | service_sids),
                                Call.parent_call_sid.is_(None),
                            )
                        ).all()
                        assert callers == [CallStatus.COMPLETED] * 2
                        bridged = session.scalars(
                            select(BridgeAttempt).where(BridgeAttempt.call_sid.in_(emergency_sids))
                        ).all()
                        assert bridged and bridged[0].accepted_at is not None
                finally:
                    database.engine.dispose()
    finally:
        proxy.close()


def test_with_redis_down_webhooks_answer_and_the_database_runs_the_jobs(
    migrated_url: str, tmp_path: Path, media: FakeTwilioMedia, caplog: pytest.LogCaptureFixture
) -> None:
    """The queue only delivers: with Redis unreachable a recording callback is still taken (its
    job is a row), and the sweep (`hotline jobs run-due`, or a worker once Redis is back) runs
    it from the database."""
    settings = make_settings(
        migrated_url,
        tmp_path,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens there
        twilio_api_base_url=media.base,
    )
    with app_in_transaction(settings) as app:
        params = callback(settings, media)
        response = TwilioSigner(app.test_client(), settings).post("/voice/recording-status", params)
        response.close()  # runs the after-response push, which meets the dead queue
        assert response.status_code == 204
        assert "could not push jobs to the queue" in caplog.text
        with database(app).sessions() as session:
            assert job_for(session, params["RecordingSid"]).state is JobState.PENDING
            assert jobs.run_due(app) == {"done": 1}
            stored = recordings.get(session, params["RecordingSid"])
            assert stored is not None and stored.state is RecordingState.STORED
