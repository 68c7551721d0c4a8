"""The ceilings: the least a Twilio webhook can cost on the same server settings.

- The bare ceiling (`create_app`): one route that does what every hotline webhook must (parse
  the form, validate X-Twilio-Signature against the public URL) and answers the hotline's
  greeting built with VoiceResponse — no database, no state.
- The durable ceiling (`create_durable_app`): the same, and it also writes one row per webhook
  (the CallSid and the form) and commits before it answers, with the plain driver (psycopg for
  PostgreSQL, sqlite3 for SQLite: no ORM, one prepared statement, one round trip and a commit) —
  the price of durability alone.

`hotline bench` serves both with the same gunicorn settings as the hotline and reports the
hotline's webhook throughput as a share of each: what the hotline costs beyond the bare minimum,
and beyond the minimum that keeps every webhook on disk.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from flask import Flask, Response, abort, request
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

Writer = Callable[[str, str], None]


class Opened(list[Any]):
    """The connections a writer opened (one per thread), to close at the end."""

    def close(self) -> None:
        for connection in self:
            connection.close()
        self.clear()


TABLE = "bench_ceiling_webhooks"
#: The advisory lock the durable ceiling's workers take to create TABLE one at a time.
CREATE_LOCK = 19_019


def create_app() -> Flask:
    """The bare ceiling: signature and greeting, nothing kept."""
    return _greeting_app(None)


def create_durable_app() -> Flask:
    """The durable ceiling: signature, one row written and committed, greeting. Its writer (and
    `close()` for its connections) is `app.extensions["ceiling.writer"]`."""
    writer = _writer(os.environ["DATABASE_URL"])
    app = _greeting_app(writer)
    app.extensions["ceiling.writer"] = writer
    return app


def _greeting_app(write: Writer | None) -> Flask:
    app = Flask(__name__)
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    public = os.environ["PUBLIC_BASE_URL"].rstrip("/")

    @app.post("/voice/incoming")
    def incoming() -> Response:
        url = public + request.path
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        if write is not None:
            write(request.form.get("CallSid", ""), json.dumps(request.form.to_dict()))
        response = VoiceResponse()
        gather = response.gather(
            input="dtmf speech",
            action=public + "/voice/ivr/gather?step=0",
            method="POST",
            timeout=5,
            num_digits=1,
            speech_timeout="auto",
            language="cmn-Hans-CN",
            action_on_empty_result=True,
            barge_in=True,
        )
        gather.say(
            "您好，民生110。请直接说您遇到的事情。紧急求助请按1，办事和投诉请按2，人工服务请按0。",
            language="cmn-CN",
            voice="Polly.Zhiyu",
        )
        gather.say("For English, press 9.", language="en-US", voice="Polly.Joanna")
        response.redirect(public + "/voice/ivr/gather?step=0", method="POST")
        return Response(str(response), mimetype="text/xml")

    return app


def _writer(database_url: str) -> Writer:
    """One INSERT and a COMMIT per webhook, on a connection per thread of the worker."""
    url = make_url(database_url)
    local = threading.local()
    opened = Opened()
    if url.get_backend_name() == "sqlite":
        path = url.database or ""

        def sqlite_connection() -> sqlite3.Connection:
            if not hasattr(local, "connection"):
                connection = sqlite3.connect(path, timeout=10, isolation_level=None)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} "
                    "(id INTEGER PRIMARY KEY, call_sid TEXT, at TEXT, params TEXT)"
                )
                local.connection = connection
                opened.append(connection)
            found: sqlite3.Connection = local.connection
            return found

        def write_sqlite(call_sid: str, params: str) -> None:
            connection = sqlite_connection()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                f"INSERT INTO {TABLE} (call_sid, at, params) "  # noqa: S608 (a constant)
                "VALUES (?, datetime('now'), ?)",
                (call_sid, params),
            )
            connection.execute("COMMIT")

        write_sqlite.close = opened.close  # type: ignore[attr-defined]
        return write_sqlite

    options: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "dbname": url.database,
        "user": url.username,
        "password": url.password,
    }
    if "options" in url.query:
        options["options"] = url.query["options"]

    def postgres_connection() -> psycopg.Connection[Any]:
        if not hasattr(local, "connection"):
            connection = psycopg.connect(
                **{k: v for k, v in options.items() if v is not None}, prepare_threshold=0
            )
            with connection.transaction():
                # The workers' first requests race to create it: IF NOT EXISTS alone lets two
                # of them collide in the catalogue (a UniqueViolation: a 500 in the ceiling).
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (CREATE_LOCK,))
                connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} "
                    "(id BIGSERIAL PRIMARY KEY, call_sid TEXT, at TIMESTAMPTZ, params JSONB)"
                )
            local.connection = connection
            opened.append(connection)
        found: psycopg.Connection[Any] = local.connection
        return found

    def write_postgres(call_sid: str, params: str) -> None:
        connection = postgres_connection()
        connection.execute(
            f"INSERT INTO {TABLE} (call_sid, at, params) "  # noqa: S608 (a constant)
            "VALUES (%s, now(), %s)",
            (call_sid, params),
        )
        connection.commit()

    write_postgres.close = opened.close  # type: ignore[attr-defined]
    return write_postgres
