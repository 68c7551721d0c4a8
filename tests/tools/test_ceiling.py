"""The bench's durable ceiling keeps what it answers: one row per webhook, committed before the
answer, on SQLite and PostgreSQL (tools/bench/ceiling.py)."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from tools.bench import ceiling

TOKEN = "a-token-for-the-ceiling-0000"
PUBLIC = "http://127.0.0.1:9999"


def test_each_webhook_is_a_committed_row(
    backend: str, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = empty_url
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC)
    app = ceiling.create_durable_app()
    client = app.test_client()
    sids = []
    for _ in range(3):
        sid = "CA" + uuid.uuid4().hex
        params = {"CallSid": sid, "From": "+8613800138000", "CallStatus": "ringing"}
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/voice/incoming", params)
        answer = client.post(
            "/voice/incoming", data=params, headers={"X-Twilio-Signature": signature}
        )
        assert answer.status_code == 200 and b"<Gather" in answer.get_data()
        sids.append(sid)
    refused = client.post("/voice/incoming", data={"CallSid": "CA" + "0" * 32})
    assert refused.status_code == 403
    app.extensions["ceiling.writer"].close()
    query = "SELECT call_sid FROM " + ceiling.TABLE  # noqa: S608 (a constant)
    if backend == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            rows = [r[0] for r in connection.execute(query)]
    else:
        engine = create_engine(url)
        with engine.connect() as connection:
            rows = list(connection.scalars(text(query)))
        engine.dispose()
    assert sorted(rows) == sorted(sids), "one row per answered webhook, none for the refused"
