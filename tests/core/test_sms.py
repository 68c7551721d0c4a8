"""Text messages that tell the truth: a row per message, sent by a job through a Messaging
Service or an account sender, with a delivery callback whose reports only move forward; a
refusal that will never succeed fails at once, an outage is retried, nothing is queued without
Twilio."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.models import Case
from cases.supervision import notify_dispatched
from config.settings import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, Settings
from core import jobs, sms, times, twilio_rest
from core.db import utcnow
from core.jobs import Job, JobState
from core.models import SmsMessage
from tests.support import CALLER, TwilioSigner, make_settings, reason
from tests.support.staff import open_case
from tools import twilio_mock

MESSAGING_SERVICE = "MG" + "ab" * 16
LANDLINE = "+865996123456"
DEAD_API = "http://127.0.0.1:9"  # nothing listens: "configured", but every request fails


class FakeTwilio:
    """Twilio's Messages endpoint, answering each POST with the next scripted reply."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, list[str]]]] = []
        #: (HTTP status, JSON body) per request; the last one repeats.
        self.replies: list[tuple[int, dict[str, object]]] = [
            (201, {"sid": "SM" + "1" * 32, "status": "queued"})
        ]
        #: Run before answering (while the client waits), e.g. a callback that overtakes.
        self.before_reply: Callable[[], None] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                fake.posts.append((self.path, parse_qs(body.decode())))
                if fake.before_reply is not None:
                    fake.before_reply()
                status, reply = fake.replies.pop(0) if len(fake.replies) > 1 else fake.replies[0]
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    server = FakeTwilio()
    yield server
    server.server.shutdown()
    server.server.server_close()


def use(app: Flask, settings: Settings, **overrides: object) -> Settings:
    """Run the app (and its jobs) on `settings` with `overrides`."""
    replaced = dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]
    app.extensions["hotline.settings"] = replaced
    return replaced


def message(db_session: Session, key: str) -> SmsMessage:
    db_session.expire_all()
    row = db_session.scalar(select(SmsMessage).where(SmsMessage.key == key))
    assert row is not None, key
    return row


def schedule(
    app: Flask, db_session: Session, key: str = "case-received:MS-1", to: str = CALLER
) -> bool:
    with app.app_context():
        queued = sms.schedule_sms(
            db_session, key=key, to=to, body="【民生110】工单 MS-1", case_number="MS-1"
        )
    db_session.commit()
    return queued


def sms_jobs(db_session: Session) -> list[Job]:
    db_session.expire_all()
    return list(db_session.scalars(select(Job).where(Job.kind == sms.SEND).order_by(Job.id)))


def run_job(app: Flask, job: Job, minutes: float = 0) -> str:
    database, settings = app.extensions["hotline.db"], app.extensions["hotline.settings"]
    return jobs.run_job(database, settings, job.id, now=utcnow() + dt.timedelta(minutes=minutes))


# --------------------------------------------------------------------------------- scheduling


def test_a_scheduled_text_is_a_pending_row_and_a_job_in_one_transaction(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio
) -> None:
    use(app, settings, twilio_api_base_url=fake.base)
    assert schedule(app, db_session) is True
    assert schedule(app, db_session) is True, "the same key again: as queued as the first time"

    row = message(db_session, "case-received:MS-1")
    assert (row.status, row.attempts, row.to_number, row.case_number) == (
        "pending",
        0,
        CALLER,
        "MS-1",
    )
    assert row.message_sid is None
    (job,) = sms_jobs(db_session)
    assert (job.key, job.payload["to"], job.payload["key"]) == (row.key, CALLER, row.key)


def test_a_rolled_back_schedule_leaves_neither_row_nor_job(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio
) -> None:
    use(app, settings, twilio_api_base_url=fake.base)
    with app.app_context():
        sms.schedule_sms(db_session, key="case-received:MS-2", to=CALLER, body="x")
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(SmsMessage)) == 0
    assert sms_jobs(db_session) == []


def test_without_twilio_nothing_is_queued_and_the_row_says_so(
    app: Flask, db_session: Session, settings: Settings
) -> None:
    # The development placeholders and no API base URL: nowhere to send anything.
    bare = use(
        app,
        settings,
        twilio_api_base_url=None,
        twilio_account_sid=DEV_ACCOUNT_SID,
        twilio_auth_token=DEV_AUTH_TOKEN,
    )
    assert not twilio_rest.configured(bare)
    assert schedule(app, db_session) is False

    row = message(db_session, "case-received:MS-1")
    assert row.status == "refused"
    assert "not configured" in (row.error or "")
    assert sms_jobs(db_session) == []


def test_a_landline_gets_no_text_and_the_row_says_why(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio
) -> None:
    use(app, settings, twilio_api_base_url=fake.base)
    assert schedule(app, db_session, to=LANDLINE) is False
    assert schedule(app, db_session, to=LANDLINE) is False, "the same key again: still refused"
    row = message(db_session, "case-received:MS-1")
    assert (row.status, row.error) == ("refused", "not a mobile number")
    assert sms_jobs(db_session) == []


def test_one_number_gets_at_most_the_daily_limit_of_texts(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio
) -> None:
    use(app, settings, twilio_api_base_url=fake.base, sms_daily_limit_per_number=3)
    queued = [schedule(app, db_session, key=f"case-received:MS-{n}") for n in range(5)]
    assert queued == [True, True, True, False, False]
    assert schedule(app, db_session, key="case-received:MS-0") is True, "a retry is not a new text"
    assert schedule(app, db_session, key="case-received:MS-3") is False, "refused, as before"
    row = message(db_session, "case-received:MS-3")
    assert (row.status, row.error) == ("refused", "daily limit: 3 texts to this number")
    assert len(sms_jobs(db_session)) == 3
    assert schedule(app, db_session, key="case-received:MS-9", to="+8613800138999") is True


def test_a_units_contact_gets_every_case_past_the_daily_limit(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio
) -> None:
    """The cap protects outsiders' phones; a busy unit's duty phone is sent every case."""
    use(app, settings, twilio_api_base_url=fake.base, sms_daily_limit_per_number=3)
    with app.app_context():
        queued = [
            sms.schedule_sms(
                db_session,
                key=f"case-dispatch:MS-{n}:city_management",
                to=CALLER,
                body=f"【民生110派单】工单 MS-{n}",
                case_number=f"MS-{n}",
                to_staff=True,
            )
            for n in range(5)
        ]
    db_session.commit()
    assert queued == [True] * 5
    assert len(sms_jobs(db_session)) == 5


def test_every_dispatch_reaches_the_units_duty_phone_with_the_day_it_is_due(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio
) -> None:
    """Found by a profile of 200 demo calls: the eleventh case of the day sent to the service
    center was never texted to its duty phone (the outsiders' cap). And a deadline at local
    midnight is written as the day it ends, not the next day's 00:00."""
    use(app, settings, twilio_api_base_url=fake.base, sms_daily_limit_per_number=3)
    numbers = [open_case(app, db_session) for _ in range(5)]
    units = app.extensions["hotline.units"]
    with app.app_context():
        for number in numbers:
            case = db_session.scalar(select(Case).where(Case.number == number))
            assert case is not None
            notify_dispatched(db_session, units, case, settings.tz)
    db_session.commit()
    texts = db_session.scalars(
        select(SmsMessage).where(SmsMessage.key.like("case-dispatch:%"))
    ).all()
    assert len(texts) == 5 and {t.status for t in texts} == {"pending"}
    for text in texts:
        case = db_session.scalar(select(Case).where(Case.number == text.case_number))
        assert case is not None
        assert f"请于 {times.deadline(case.due_at, settings.tz, 'zh')} 前办理" in text.body
        assert not text.body.endswith("00:00 前办理并反馈。"), "never the next day's midnight"


# ---------------------------------------------------------------------------------- sending


def test_the_job_sends_from_the_hotline_number_with_a_delivery_callback(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio
) -> None:
    use(app, settings, twilio_api_base_url=fake.base)
    schedule(app, db_session)
    assert jobs.run_due(app) == {"done": 1}

    ((path, form),) = fake.posts
    assert path == f"/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json"
    row = message(db_session, "case-received:MS-1")
    assert form["To"] == [CALLER]
    assert form["From"] == [settings.hotline_number]
    assert "MessagingServiceSid" not in form
    assert form["StatusCallback"] == [f"https://hotline.example.org/voice/sms-status?m={row.id}"]
    assert (row.status, row.message_sid, row.attempts) == ("queued", "SM" + "1" * 32, 1)
    assert jobs.run_due(app) == {}, "sent once"


def test_a_messaging_service_sends_without_a_from(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio
) -> None:
    use(
        app,
        settings,
        twilio_api_base_url=fake.base,
        twilio_messaging_service_sid=MESSAGING_SERVICE,
        sms_from="+8613800000001",
    )
    schedule(app, db_session)
    jobs.run_due(app)
    ((_, form),) = fake.posts
    assert form["MessagingServiceSid"] == [MESSAGING_SERVICE]
    assert "From" not in form


def test_sms_from_is_the_sender_without_a_messaging_service(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio
) -> None:
    use(app, settings, twilio_api_base_url=fake.base, sms_from="+8613800000001")
    schedule(app, db_session)
    jobs.run_due(app)
    ((_, form),) = fake.posts
    assert form["From"] == ["+8613800000001"]


@pytest.mark.parametrize(("code", "what"), [(21211, "Invalid 'To'"), (21610, "unsubscribed")])
def test_a_refusal_that_will_never_succeed_fails_the_text_at_once(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio, code: int, what: str
) -> None:
    use(app, settings, twilio_api_base_url=fake.base)
    fake.replies = [(400, {"code": code, "message": what, "status": 400})]
    schedule(app, db_session)
    (job,) = sms_jobs(db_session)
    assert run_job(app, job) == "failed", "given up at once: no retry"
    for minutes in (1, 5, 60, 600):
        assert run_job(app, job, minutes) == "skipped"
    db_session.expire_all()
    (job_row,) = sms_jobs(db_session)
    assert job_row.state is JobState.FAILED, "hotline jobs status shows it failed"
    assert "given up" in (job_row.last_error or "") and str(code) in (job_row.last_error or "")

    assert len(fake.posts) == 1
    row = message(db_session, "case-received:MS-1")
    assert (row.status, row.error_code, row.attempts) == ("failed", str(code), 1)
    assert what in (row.error or "") and "HTTP 400" in (row.error or "")


def test_an_outage_is_retried_with_backoff_and_recorded_on_the_row(
    app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio
) -> None:
    use(app, settings, twilio_api_base_url=fake.base)
    fake.replies = [
        (503, {"code": 20500, "message": "Service Unavailable", "status": 503}),
        (429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
        (201, {"sid": "SM" + "2" * 32, "status": "accepted"}),
    ]
    schedule(app, db_session)
    (job,) = sms_jobs(db_session)

    assert run_job(app, job) == "retry"
    row = message(db_session, "case-received:MS-1")
    assert (row.status, row.attempts, row.error_code) == ("pending", 1, "20500")
    assert "HTTP 503" in (row.error or "")
    assert run_job(app, job) == "skipped", "not before its backoff"
    assert run_job(app, job, 1) == "retry"
    assert run_job(app, job, 5) == "done"

    row = message(db_session, "case-received:MS-1")
    assert (row.status, row.attempts, row.message_sid) == ("accepted", 3, "SM" + "2" * 32)
    assert len(fake.posts) == 3


def test_a_text_twilio_never_answers_for_fails_after_its_tries(
    app: Flask, db_session: Session, settings: Settings
) -> None:
    use(app, settings, twilio_api_base_url=DEAD_API)
    schedule(app, db_session)
    (job,) = sms_jobs(db_session)
    outcomes = [run_job(app, job, minutes=2**i) for i in range(sms.SEND_TRIES)]

    assert outcomes == ["retry"] * (sms.SEND_TRIES - 1) + ["failed"]
    row = message(db_session, "case-received:MS-1")
    assert (row.status, row.attempts) == ("failed", sms.SEND_TRIES)
    assert "ConnectionError" in (row.error or "")
    (job,) = sms_jobs(db_session)
    assert job.state is JobState.FAILED


def test_sent_through_prism_as_twilios_contract_allows(
    app: Flask, db_session: Session, settings: Settings, prism: str
) -> None:
    use(app, settings, twilio_api_base_url=prism, twilio_messaging_service_sid=MESSAGING_SERVICE)
    schedule(app, db_session)
    schedule(app, db_session, key="case-dispatch:MS-1")
    assert jobs.run_due(app) == {"done": 2}, "Prism refuses (422) what the spec forbids"
    first, second = (
        message(db_session, "case-received:MS-1"),
        message(db_session, "case-dispatch:MS-1"),
    )
    assert first.message_sid is not None and first.message_sid.startswith(("SM", "MM"))
    # Prism answers the same sample SID every time: the second text goes without, not failed.
    assert (second.status, second.message_sid) == (first.status, None)


def test_the_legacy_job_without_a_row_still_sends(tmp_path: Path, fake: FakeTwilio) -> None:
    settings = make_settings("sqlite:///unused.db", tmp_path, twilio_api_base_url=fake.base)
    sms.send(Session(), {"to": CALLER, "body": "您的诉求已受理。"}, settings)
    ((_, form),) = fake.posts
    assert form["StatusCallback"] == ["https://hotline.example.org/voice/sms-status"]


# ------------------------------------------------------------------------- delivery reports


def report(settings: Settings, sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": settings.twilio_account_sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": settings.hotline_number,
        "To": CALLER,
        "ApiVersion": "2010-04-01",
        **extra,
    }


@pytest.fixture
def sent(app: Flask, db_session: Session, settings: Settings, fake: FakeTwilio) -> SmsMessage:
    """A text Twilio has accepted (queued)."""
    use(app, settings, twilio_api_base_url=fake.base)
    schedule(app, db_session)
    jobs.run_due(app)
    return message(db_session, "case-received:MS-1")


def test_delivery_reports_move_the_status_forward_only(
    twilio: TwilioSigner, settings: Settings, db_session: Session, sent: SmsMessage
) -> None:
    path = f"/voice/sms-status?m={sent.id}"
    sid = sent.message_sid or ""
    for status in ("sending", "sent", "delivered"):
        response = twilio.post(path, report(settings, sid, status))
        assert response.status_code == 200
        assert message(db_session, sent.key).status == status
    for late in ("sent", "queued", "undelivered", "failed"):  # late, duplicated, contradictory
        assert twilio.post(path, report(settings, sid, late, ErrorCode="30003")).status_code == 200
    row = message(db_session, sent.key)
    assert (row.status, row.error_code) == ("delivered", None), "delivered is final"


def test_an_undelivered_text_keeps_twilios_error_code(
    twilio: TwilioSigner, settings: Settings, db_session: Session, sent: SmsMessage
) -> None:
    sid = sent.message_sid or ""
    twilio.post("/voice/sms-status", report(settings, sid, "sent"))  # found by its SID alone
    twilio.post("/voice/sms-status", report(settings, sid, "undelivered", ErrorCode="30005"))
    twilio.post("/voice/sms-status", report(settings, sid, "delivered"))
    row = message(db_session, sent.key)
    assert (row.status, row.error_code) == ("undelivered", "30005")
    assert "30005" in (row.error or "")


def test_a_report_that_overtakes_the_job_is_kept(
    app: Flask,
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    fake: FakeTwilio,
) -> None:
    use(app, settings, twilio_api_base_url=fake.base)
    schedule(app, db_session)
    row = message(db_session, "case-received:MS-1")
    sid = "SM" + "1" * 32  # what the fake answers
    answered: list[int] = []

    def callback_first() -> None:
        # Twilio's callback arrives while the job still waits for Twilio's answer.
        params = report(settings, sid, "sent")
        answered.append(twilio.post(f"/voice/sms-status?m={row.id}", params).status_code)

    fake.before_reply = callback_first
    assert jobs.run_due(app) == {"done": 1}

    assert answered == [200]
    row = message(db_session, row.key)
    assert (row.status, row.message_sid, row.attempts) == ("sent", sid, 1), "not back to queued"


def test_an_unknown_message_is_answered_and_nothing_is_written(
    twilio: TwilioSigner, settings: Settings, db_session: Session, sent: SmsMessage
) -> None:
    stranger = "SM" + "9" * 32
    assert twilio.post("/voice/sms-status", report(settings, stranger, "failed")).status_code == 200
    # An id in the URL that belongs to another message: only the SID counts.
    wrong = twilio.post(f"/voice/sms-status?m={sent.id}", report(settings, stranger, "failed"))
    assert wrong.status_code == 200
    row = message(db_session, sent.key)
    assert (row.status, row.message_sid) == ("queued", sent.message_sid)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"MessageSid": "SM123"}, "MessageSid"),
        ({"MessageSid": "CA" + "1" * 32}, "MessageSid"),
        ({"MessageStatus": "exploded"}, "MessageStatus"),
        ({"MessageStatus": ""}, "MessageStatus"),
        ({"AccountSid": "AC" + "f" * 32}, "not this hotline's"),
        ({"AccountSid": "nope"}, "AccountSid"),
        ({"ErrorCode": "30003; DROP TABLE"}, "ErrorCode"),
    ],
)
def test_a_malformed_report_is_refused_and_nothing_is_written(
    twilio: TwilioSigner,
    settings: Settings,
    db_session: Session,
    sent: SmsMessage,
    change: dict[str, str],
    why: str,
) -> None:
    params = {**report(settings, sent.message_sid or "", "delivered"), **change}
    response = twilio.post(f"/voice/sms-status?m={sent.id}", params)
    assert response.status_code == 400
    assert why in reason(response)
    assert message(db_session, sent.key).status == "queued"


def test_an_unsigned_report_is_forbidden(
    twilio: TwilioSigner, settings: Settings, db_session: Session, sent: SmsMessage
) -> None:
    params = report(settings, sent.message_sid or "", "delivered")
    response = twilio.client.post("/voice/sms-status", data=params)
    assert response.status_code == 403
    assert message(db_session, sent.key).status == "queued"


@pytest.mark.parametrize("status", sms.MESSAGE_STATUSES)
def test_every_status_twilio_documents_is_accepted(
    twilio: TwilioSigner, settings: Settings, status: str
) -> None:
    sid = "SM" + "7" * 32
    assert twilio.post("/voice/sms-status", report(settings, sid, status)).status_code == 200


def test_the_statuses_are_twilios_own() -> None:
    spec = json.loads(twilio_mock.spec_path().read_text(encoding="utf-8"))
    documented = spec["components"]["schemas"]["message_enum_status"]["enum"]
    assert sorted(sms.MESSAGE_STATUSES) == sorted(documented)
