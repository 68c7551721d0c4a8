"""The operators' commands of core: `hotline jobs run-due|status` say in words what happened and
what is wrong (times in the hotline's zone), and `hotline --help` carries no python-dotenv notice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import cli
from config.settings import Settings
from core import jobs
from core.cli import describe_run
from core.jobs import Job, JobState

SHANGHAI = ZoneInfo("Asia/Shanghai")
KIND = "test.cli"
LONG = "x" * 400


@jobs.handler(KIND)
def _handler(session: Session, payload: dict[str, Any], settings: Settings) -> None:
    if payload.get("error"):
        raise RuntimeError(payload["error"])


def run(app: Flask, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))
    return result.exit_code, result.output


def the_job(db_session: Session, key: str) -> Job:
    return db_session.scalars(
        select(Job).where(Job.key == key).execution_options(populate_existing=True)
    ).one()


def _schedule(db_session: Session, key: str, *, error: str = "", max_attempts: int = 8) -> None:
    payload = {"error": error} if error else {}
    jobs.schedule(db_session, KIND, key, payload, max_attempts=max_attempts)


def test_run_due_says_in_words_what_it_ran(app: Flask, db_session: Session) -> None:
    _schedule(db_session, "fine")
    for n in range(4):
        _schedule(db_session, f"flaky-{n}", error="Twilio answered 503")
    db_session.commit()

    code, output = run(app, "jobs", "run-due")
    assert code == 0, output
    assert output == (
        "ran 5 due jobs: 1 done, 4 will retry (their errors: `hotline jobs status`)\n"
    )
    assert the_job(db_session, "fine").state is JobState.DONE
    for n in range(4):
        flaky = the_job(db_session, f"flaky-{n}")
        assert (flaky.state, flaky.attempts) == (JobState.PENDING, 1)
        assert flaky.last_error == "RuntimeError: Twilio answered 503"

    code, output = run(app, "jobs", "run-due")  # the retries wait for their backoff
    assert (code, output) == (0, "no jobs were due\n")


def test_run_due_words_every_outcome() -> None:
    assert describe_run({}) == "no jobs were due"
    assert describe_run({"done": 1}) == "ran 1 due job: 1 done"
    assert describe_run({"skipped": 2, "failed": 1, "deferred": 1, "done": 3}) == (
        "ran 7 due jobs: 3 done, 1 failed for good, 1 deferred (cannot run yet), "
        "2 skipped (taken or finished elsewhere) (their errors: `hotline jobs status`)"
    )


def test_status_shows_failed_and_retrying_jobs_with_their_errors(
    app: Flask, db_session: Session
) -> None:
    _schedule(db_session, "fine")
    _schedule(
        db_session, "hopeless", error="Twilio refused\n  HTTP 400: not a number", max_attempts=1
    )
    _schedule(db_session, "flaky", error="Twilio answered 503")
    _schedule(db_session, "verbose", error=LONG)
    db_session.commit()
    assert jobs.run_due(app) == {"done": 1, "failed": 1, "retry": 2}

    code, output = run(app, "jobs", "status")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split() == ["kind", "state", "count"]
    assert [line.split() for line in lines[1:4]] == [
        [KIND, "done", "1"],
        [KIND, "failed", "1"],
        [KIND, "pending", "2"],
    ]
    assert lines[4] == "times in Asia/Shanghai"
    hopeless, flaky = the_job(db_session, "hopeless"), the_job(db_session, "flaky")
    gave_up = hopeless.updated_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    next_try = flaky.due_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert lines[5] == "failed, no more tries (1):"
    assert lines[6] == (
        f"  {KIND} hopeless  attempts 1/1  gave up {gave_up}  "
        "RuntimeError: Twilio refused HTTP 400: not a number"
    )
    assert lines[7] == "retrying (2):"
    retrying = sorted(lines[8:])
    assert len(retrying) == 2
    assert retrying[0] == (
        f"  {KIND} flaky  attempts 1/8  next try {next_try}  RuntimeError: Twilio answered 503"
    )
    verbose = retrying[1]
    assert verbose.startswith(f"  {KIND} verbose  attempts 1/8  next try ")
    assert verbose.endswith("…") and LONG not in verbose
    assert "UTC" not in output and "+00:00" not in output


def test_status_without_trouble(app: Flask, db_session: Session) -> None:
    assert run(app, "jobs", "status") == (0, "no jobs\n")
    _schedule(db_session, "fine")
    db_session.commit()
    jobs.run_due(app)
    code, output = run(app, "jobs", "status")
    assert code == 0
    assert output.splitlines()[1:] == [f"{KIND:<24} done     1", "no failed or retrying jobs"]


def _hotline() -> Path:
    """The `hotline` console script of this virtualenv (pyproject.toml: app:main)."""
    script = Path(sys.executable).with_name("hotline")
    if not script.exists():
        pytest.skip(f"no `hotline` script beside {sys.executable} (make install)")
    return script


def test_help_carries_no_python_dotenv_notice(tmp_path: Path) -> None:
    # Flask prints its tip where a .env or .flaskenv file is present and python-dotenv is not.
    (tmp_path / ".env").write_text("HOTLINE_ENV=development\n", encoding="utf-8")
    (tmp_path / ".flaskenv").write_text("FLASK_DEBUG=0\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "HOTLINE_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'hotline.db'}",
        SPOOL_DIR=str(tmp_path / "spool"),
        RECORDINGS_DIR=str(tmp_path / "recordings"),
    )
    done = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
        [str(_hotline()), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: hotline [OPTIONS] COMMAND [ARGS]...")
    assert "jobs" in done.stdout and "surveys" in done.stdout, "the app's commands are listed"
    printed = done.stdout + done.stderr
    for notice in ("dotenv", "Tip:", ".env", "--env-file"):
        assert notice not in printed, printed
