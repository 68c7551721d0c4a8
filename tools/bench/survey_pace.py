"""Does the survey pace limit hold when several worker processes dial at once?

Fills a database with resolved cases whose surveys are due, starts a stand-in for Twilio's
Calls API that notes when each call request arrives, then starts several worker processes that
all race through the same dial jobs (as Huey workers on several machines would). Prints how many
calls arrived, the achieved rate, and the smallest gap between two arrivals, against the limit.

    .venv/bin/python -m tools.bench.survey_pace --workers 4 --calls 30 --cps 5
    .venv/bin/python -m tools.bench.survey_pace --database-url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tools.databases import scratch_database

ROOT = Path(__file__).resolve().parents[2]  # tools/bench/ -> the repository


@dataclasses.dataclass(frozen=True)
class PaceResult:
    calls: int
    workers: int
    #: The smallest gap between two granted pace slots (the database's guarantee).
    min_slot_gap_s: float
    limit_cps: float
    achieved_cps: float
    min_gap_s: float
    median_gap_s: float
    max_in_any_second: int
    seconds: float


class FakeCallsApi:
    """Answers POST …/Calls.json like Twilio (201, a queued call) and notes the arrival time."""

    def __init__(self) -> None:
        arrivals: list[float] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not self.path.endswith("/Calls.json"):
                    self.send_error(404)
                    return
                with lock:
                    arrivals.append(at)
                body = json.dumps(
                    {
                        "sid": "CA" + uuid.uuid4().hex,
                        "status": "queued",
                        "direction": "outbound-api",
                    }
                ).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.arrivals = arrivals
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def prepare(database_url: str, calls: int, directory: Path, cps: float) -> dict[str, Any]:
    """Resolved cases with due surveys, each with its dial job; the settings workers use."""
    from sqlalchemy import select, update

    from app import create_app
    from cases.service import apply, create_case
    from config.settings import CONFIG_DIR, Environment, Settings
    from core import db, jobs, migrate
    from surveys import dialer
    from surveys.models import CaseSurvey

    migrate.upgrade(migrate.alembic_config(url=database_url))
    doc = yaml.safe_load((CONFIG_DIR / "survey.yaml").read_text(encoding="utf-8"))
    doc["calls_per_second"] = cps
    survey_file = directory / "survey.yaml"
    survey_file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    values: dict[str, Any] = {
        "env": Environment.TEST,
        "database_url": database_url,
        "twilio_auth_token": "bench-auth-token-0123456789abcdef",
        "public_base_url": "https://hotline.example.org",
        "recordings_dir": directory / "recordings",
        "spool_dir": directory / "spool",
        "survey_file": survey_file,
    }
    settings = Settings(**values)
    app = create_app(settings)
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        session = db.session()
        units = app.extensions["hotline.units"]
        for i in range(calls):
            case = create_case(
                session,
                call_sid=None,
                category="city_management",
                language="zh",
                caller_number=f"+86138{i:08d}",
                caller_raw="bench",
                transcript="路灯坏了",
                tz=settings.tz,
                holidays={},
                source="api",
            )
            apply(
                session,
                case.number,
                "dispatch",
                actor="b",
                unit_code="city_management",
                units=units,
            )
            apply(session, case.number, "accept", actor="b")
            apply(session, case.number, "resolve", actor="b", note="修好了")
        session.commit()
        jobs.run_sweepers(app, now + dt.timedelta(hours=1))  # schedules the surveys
        session.execute(update(CaseSurvey).values(due_at=now))
        ids = session.scalars(select(CaseSurvey.id)).all()
        for survey_id in ids:
            dialer.schedule_dial(session, survey_id, 1, now, ignore_hours=True)
        session.commit()
    app.extensions["hotline.db"].engine.dispose()
    return values


def slot_times(database_url: str) -> list[float]:
    """When each attempt's pace slot started (epoch seconds), in order."""
    from sqlalchemy import select

    from core.db import Database
    from surveys.models import SurveyAttempt

    database = Database(database_url)
    try:
        with database.sessions() as session:
            placed = session.scalars(select(SurveyAttempt.placed_at)).all()
    finally:
        database.engine.dispose()
    return sorted(at.timestamp() for at in placed)


def worker(values: dict[str, Any], api_base: str, deadline: float) -> None:
    """One worker process: run every due dial job it can claim until none is left."""
    from sqlalchemy import select

    from config.settings import Settings
    from core import jobs
    from core.db import Database, utcnow
    from core.jobs import Job, JobState
    from surveys import dialer

    settings = Settings(**{**values, "twilio_api_base_url": api_base})
    database = Database(settings.database_url, timeout_s=settings.db_timeout_s)
    while time.time() < deadline:
        with database.sessions() as session:
            pending = session.scalar(
                select(Job.id).where(
                    Job.kind == dialer.DIAL, Job.state.in_([JobState.PENDING, JobState.RUNNING])
                )
            )
            ids = jobs.due_jobs(session, utcnow())
        if pending is None:
            return
        if not ids:
            time.sleep(0.05)
        for job_id in ids:
            jobs.run_job(database, settings, job_id)


def measure(
    *, workers: int, calls: int, cps: float, database_url: str | None = None, timeout_s: float = 120
) -> PaceResult:
    """Run the race and measure it (database_url None: a SQLite file)."""
    with tempfile.TemporaryDirectory() as tmp, scratch_database(Path(tmp), database_url) as url:
        values = prepare(url, calls, Path(tmp), cps)
        api = FakeCallsApi()
        try:
            context = multiprocessing.get_context("spawn")
            deadline = time.time() + timeout_s
            processes = [
                context.Process(target=worker, args=(values, api.base, deadline))
                for _ in range(workers)
            ]
            for process in processes:
                process.start()
            for process in processes:
                process.join(timeout_s + 30)
        finally:
            api.close()
        arrivals = sorted(api.arrivals)
        slots = slot_times(url)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    seconds = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    busiest = max(
        (sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals), default=0
    )
    return PaceResult(
        calls=len(arrivals),
        workers=workers,
        min_slot_gap_s=min((b - a for a, b in itertools.pairwise(slots)), default=0.0),
        limit_cps=cps,
        achieved_cps=(len(arrivals) - 1) / seconds if seconds else 0.0,
        min_gap_s=min(gaps, default=0.0),
        median_gap_s=statistics.median(gaps) if gaps else 0.0,
        max_in_any_second=busiest,
        seconds=seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--cps", type=float, default=5.0)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(
        workers=args.workers, calls=args.calls, cps=args.cps, database_url=args.database_url
    )
    if args.json:
        print(json.dumps(dataclasses.asdict(result)))
        return
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{result.calls} calls by {result.workers} worker processes on {database}")
    print(f"limit            {result.limit_cps:.2f} calls/s (gap {1 / result.limit_cps:.3f} s)")
    print(f"achieved         {result.achieved_cps:.2f} calls/s over {result.seconds:.1f} s")
    print(f"slots granted    at least {result.min_slot_gap_s:.3f} s apart")
    gaps = f"{result.min_gap_s:.3f} s apart (median {result.median_gap_s:.3f} s)"
    print(f"arrivals         at least {gaps}")
    print(f"most in 1 s      {result.max_in_any_second}")


if __name__ == "__main__":
    main()
