"""Text messages to callers and duty contacts, sent by a job (never inside a webhook).

Every message is a row (`sms_messages`) written in the same transaction as its job, so what
happened to it stays visible: `pending` until Twilio accepts it, then Twilio's own MessageStatus
as the status callback (`/voice/sms-status`, core/views.py) reports it, moving forward only.
`refused` means it was never queued (no mobile number, or no Twilio account to send with);
`failed` that Twilio refused it for good or every attempt failed. Delivery is never certain
(Twilio's China guidelines: whitelisted templates, no two-way SMS), so nothing a caller needs is
only in a text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from typing import Any

import phonenumbers
from flask import current_app
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException
from werkzeug.datastructures import MultiDict

from config.settings import Settings
from core import jobs, twilio_rest
from core.db import insert_if_missing, utcnow
from core.models import SmsMessage
from core.webhooks import BadWebhook, our_account

log = logging.getLogger(__name__)

SEND = "sms.send"
STATUS_PATH = "/voice/sms-status"
#: Tries of one message when Twilio answers 429/5xx or does not answer (backoff 30 s → 64 min).
SEND_TRIES = 8
MAX_BODY = 1500
#: Number types that can receive SMS (a fixed line cannot).
_SMS_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}

# Our own states, before (or instead of) Twilio's.
PENDING = "pending"
REFUSED = "refused"
FAILED = "failed"

#: Twilio's MessageStatus values (the OpenAPI spec's message_enum_status), ranked by how far a
#: message has got. `receiving`/`received` are inbound-only: they never move an outbound message.
MESSAGE_STATUSES = (
    "queued",
    "sending",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "receiving",
    "received",
    "accepted",
    "scheduled",
    "read",
    "partially_delivered",
    "canceled",
)
_RANK = {
    PENDING: 0,
    "receiving": 0,
    "received": 0,
    "accepted": 1,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "partially_delivered": 5,
    "read": 6,
}
#: Nothing moves a message out of these: Twilio's last word, or ours.
FINAL = ("delivered", "undelivered", "failed", "canceled", REFUSED)
_RANK.update(dict.fromkeys(FINAL, 9))
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
_ERROR_CODE = re.compile(r"^[0-9]{1,10}$")


def can_receive_sms(e164: str | None) -> bool:
    """Whether an E.164 number is a mobile one (as far as the numbering plan tells)."""
    if not e164:
        return False
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) in _SMS_TYPES


def can_send(settings: Settings, to: str | None) -> bool:
    """Whether a text to `to` would be queued at all (a mobile number, and Twilio to send it)."""
    return can_receive_sms(to) and twilio_rest.configured(settings)


def schedule_sms(
    session: Session,
    *,
    key: str,
    to: str,
    body: str,
    case_number: str | None = None,
    settings: Settings | None = None,
    to_staff: bool = False,
) -> bool:
    """Queue one SMS (once per key) with its row; False when it was not queued (and why is kept).

    The daily cap per number protects outsiders' phones (whoever files requests, the hotline is
    never a way to flood someone); `to_staff` texts — a unit's duty contact or supervisor, from
    the units' file — are not capped: a busy unit gets every case it is sent.

    `settings` defaults to the current app's (a job runs outside any app context: pass them).
    A key scheduled again changes nothing and answers as the first time did (so a retried
    webhook says the same thing to the caller).
    """
    settings = settings or current_app.extensions["hotline.settings"]
    key, now = key[:128], utcnow()
    reason = ""
    if not can_receive_sms(to):
        reason = "not a mobile number"
    elif not twilio_rest.configured(settings):
        reason = "Twilio is not configured (no account or API to send with)"
    elif not to_staff and _sent_today(session, to, key, now) >= settings.sms_daily_limit_per_number:
        # Whoever files requests, the hotline never becomes a way to flood someone's phone.
        reason = f"daily limit: {settings.sms_daily_limit_per_number} texts to this number"
    created = insert_if_missing(
        session,
        SmsMessage,
        {
            "key": key,
            "to_number": (to or "")[:16],
            "body": body[:MAX_BODY],
            "case_number": case_number,
            "status": REFUSED if reason else PENDING,
            "error": reason or None,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        },
        unique="key",
        returning="id",
    )
    # A new row has the status just written; only a key scheduled before is read back.
    status = (
        (REFUSED if reason else PENDING)
        if created is not None
        else session.scalar(select(SmsMessage.status).where(SmsMessage.key == key))
    )
    if status == REFUSED:
        if reason:
            log.info("SMS %s not queued: %s", key, reason)
        return False
    payload = {"key": key, "to": to, "body": body[:MAX_BODY]}
    jobs.push_later(jobs.schedule(session, SEND, key, payload, max_attempts=SEND_TRIES))
    return True


#: Asked before every text to an outsider: built once.
_SENT_SINCE = (
    select(func.count())
    .select_from(SmsMessage)
    .where(
        SmsMessage.to_number == bindparam("to"),
        SmsMessage.created_at > bindparam("since"),
        SmsMessage.status != REFUSED,
        SmsMessage.key != bindparam("key"),
    )
)


def _sent_today(session: Session, to: str, key: str, now: dt.datetime) -> int:
    """Texts queued or sent to `to` in the last 24 hours (refused ones and `key` not counted)."""
    count = session.scalar(
        _SENT_SINCE, {"to": (to or "")[:16], "since": now - dt.timedelta(days=1), "key": key}
    )
    return int(count or 0)


def messages_of_case(session: Session, case_number: str) -> list[SmsMessage]:
    """The texts about a case, oldest first (for its timeline)."""
    return list(
        session.scalars(
            select(SmsMessage)
            .where(SmsMessage.case_number == case_number)
            .order_by(SmsMessage.created_at, SmsMessage.id)
        )
    )


# ------------------------------------------------------------------------------ the send job


@jobs.handler(SEND)
def send(session: Session, payload: dict[str, Any], settings: Settings) -> None:
    """Send through Twilio's Messaging API, asking for delivery reports; record what happened.

    429, 5xx and no answer are retried by the job (with backoff); any other refusal (21211
    invalid 'To', 21610 unsubscribed…) will never succeed and fails the message at once.
    """
    key = payload.get("key")
    row = session.scalar(select(SmsMessage).where(SmsMessage.key == key)) if key else None
    if row is not None and row.status != PENDING:
        return  # accepted by Twilio already, refused or failed: a duplicate run
    if not twilio_rest.configured(settings):
        if row is not None:
            _finish(session, row.id, REFUSED, None, "Twilio is not configured")
        log.warning("SMS %s not sent: Twilio is not configured", key)
        return
    message_id, tries = None, 0
    if row is not None:
        message_id, tries = row.id, row.attempts + 1
        row.attempts, row.updated_at = tries, utcnow()
    # End the transaction before the network call (SQLite: a reader can't write later); the
    # attempt is counted even if this process dies waiting for Twilio.
    session.commit()
    try:
        message = twilio_rest.client(settings).messages.create(
            to=payload["to"], body=payload["body"], **_sender(settings, message_id)
        )
    except TwilioRestException as exc:
        retried = exc.status == 429 or exc.status >= 500
        error = f"HTTP {exc.status}: {exc.msg}"
        code = str(exc.code) if exc.code else None
        if message_id is not None:
            given_up = not retried or tries >= SEND_TRIES
            _finish(session, message_id, FAILED if given_up else PENDING, code, error)
        if retried:
            raise
        raise jobs.GiveUp(f"SMS {key} refused by Twilio for good: {error} (code {code})") from None
    except OSError as exc:  # no connection, timeout (requests' errors are OSErrors)
        if message_id is not None:
            final = FAILED if tries >= SEND_TRIES else PENDING
            _finish(session, message_id, final, None, f"{type(exc).__name__}: {exc}")
        raise
    if message_id is not None:
        advance(session, message_id, str(message.status or "queued"), sid=message.sid)
    log.info("SMS %s accepted by Twilio as %s", key, message.sid)


def _sender(settings: Settings, message_id: int | None) -> dict[str, str]:
    """Who sends (a Messaging Service, else a number hosted in the account) and the callback."""
    query = f"?m={message_id}" if message_id is not None else ""
    sender: dict[str, str] = {"status_callback": settings.public_url(STATUS_PATH + query)}
    if settings.twilio_messaging_service_sid:
        sender["messaging_service_sid"] = settings.twilio_messaging_service_sid
    else:
        sender["from_"] = settings.sms_from or settings.hotline_number
    return sender


def _finish(session: Session, message_id: int, status: str, code: str | None, error: str) -> None:
    """Record a failed try (still `pending` while it will be retried) in its own transaction."""
    session.rollback()
    session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == message_id, SmsMessage.status == PENDING)
        .values(status=status, error_code=code, error=error[:300], updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()


# -------------------------------------------------------------------- what Twilio reports


def advance(
    session: Session,
    message_id: int,
    status: str,
    *,
    sid: str | None = None,
    error_code: str | None = None,
) -> bool:
    """Move a message to Twilio's `status` if that is further on; one conditional UPDATE.

    Callbacks arrive twice or out of order (and can overtake the job's own write of the SID):
    a status never moves back, and nothing moves a final one. Returns whether it moved.
    """
    rank = _RANK.get(status, 0)
    earlier = [s for s, r in _RANK.items() if r < rank]
    if not earlier:
        return False
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if error_code is not None:
        values["error_code"] = error_code
    if status in ("undelivered", "failed") and error_code is not None:
        values["error"] = f"Twilio reported {status} (error {error_code})"
    moved = session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == message_id, SmsMessage.status.in_(earlier))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if sid is not None:
        # A SID is unique at Twilio, but a mock (Prism) answers the same sample SID to every
        # message: the first message keeps it, the others go without rather than fail.
        taken = select(SmsMessage.id).where(SmsMessage.message_sid == sid).exists()
        session.execute(
            update(SmsMessage)
            .where(SmsMessage.id == message_id, SmsMessage.message_sid.is_(None), ~taken)
            .values(message_sid=sid)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return bool(getattr(moved, "rowcount", 0))


@dataclasses.dataclass(frozen=True)
class StatusReport:
    """A message status callback's parameters, validated."""

    message_sid: str
    status: str
    error_code: str | None

    @classmethod
    def from_params(cls, params: MultiDict[str, str], *, account_sid: str) -> StatusReport:
        """Validate MessageSid, MessageStatus, AccountSid (ours), ErrorCode; else BadWebhook."""
        sid = params.get("MessageSid", "").strip()
        if not _MESSAGE_SID.match(sid):
            raise BadWebhook("MessageSid: expected 'SM' or 'MM' followed by 32 hex digits")
        our_account(params, account_sid)
        status = params.get("MessageStatus", "").strip()
        if status not in MESSAGE_STATUSES:
            allowed = ", ".join(MESSAGE_STATUSES)
            raise BadWebhook(f"MessageStatus: {status[:40]!r} is not one of {allowed}")
        code = params.get("ErrorCode", "").strip() or None
        if code is not None and not _ERROR_CODE.match(code):
            raise BadWebhook("ErrorCode: expected a number")
        return cls(message_sid=sid, status=status, error_code=code)


def record_status(session: Session, report: StatusReport, message_id: int | None) -> bool:
    """Apply a status callback to its message (found by the id in its URL, else by its SID).

    A message we don't know (another app's, or one sent before messages had rows) is left alone:
    returns False and writes nothing.
    """
    row = session.get(SmsMessage, message_id) if message_id is not None else None
    if row is not None and row.message_sid not in (None, report.message_sid):
        row = None  # the URL's id belongs to another message: trust only the SID
    if row is None:
        row = session.scalar(select(SmsMessage).where(SmsMessage.message_sid == report.message_sid))
    if row is None:
        log.info("SMS status for unknown message %s ignored", report.message_sid)
        return False
    return advance(
        session, row.id, report.status, sid=report.message_sid, error_code=report.error_code
    )
