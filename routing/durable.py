"""Writes that must not be lost when the database is down: done now, or spooled and replayed.

Every record kind has one idempotent handler, used both for the immediate write and for the
replay, so the database ends up the same whichever path a record took.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request
from werkzeug.datastructures import MultiDict

from calls.models import CallDirection
from calls.service import CallReport, log_event, params_document, record_webhook
from core import db, webhooks
from core.db import UNREACHABLE, utcnow
from core.spool import Handler, Spool
from routing import store

log = logging.getLogger(__name__)
View = TypeVar("View", bound=Callable[..., Response])


def _multidict(document: dict[str, Any]) -> MultiDict[str, str]:
    """Parameters as logged (a value, or a list where repeated) back into a MultiDict."""
    return MultiDict(
        [(k, x) for k, v in document.items() for x in (v if isinstance(v, list) else [v])]
    )


def _replay_call(session: Any, record: dict[str, Any]) -> None:
    params = _multidict(record["params"])
    record_webhook(
        session,
        CallReport.from_params(params, account_sid=record["account_sid"]),
        region=record["region"],
        route=record["route"],
        params=params,
        idempotency_token=record.get("token"),
        now=store.parse_time(record["at"]),
    )


def _replay_event(session: Any, record: dict[str, Any]) -> None:
    log_event(
        session,
        call_sid=record["call_sid"],
        route=record["route"],
        params=_multidict(record["params"]),
        idempotency_token=record.get("token"),
        now=store.parse_time(record["at"]),
    )


def _replay_recording(session: Any, record: dict[str, Any]) -> None:
    from recordings.service import note_recording  # recordings builds on this module

    _replay_event(session, record)
    note_recording(
        session, _multidict(record["params"]), current_app.extensions["hotline.settings"]
    )


HANDLERS: dict[str, Handler] = {
    "call": _replay_call,
    "event": _replay_event,
    "dial": store.log_dial,
    "accept": store.log_accept,
    "dial_result": store.log_dial_result,
    "alert": store.raise_alert,
    "recording": _replay_recording,
    "callback": store.open_callback,
    "call_ended": store.call_ended,
}


def init_app(app: Flask) -> None:
    """Attach the spool and replay it after requests while anything is pending."""
    settings = app.extensions["hotline.settings"]
    app.extensions["hotline.spool"] = Spool(settings.spool_dir)

    @app.after_request
    def _replay_later(response: Response) -> Response:
        database = db.database()
        if database.available():
            spooled, sessions = spool(), database.sessions

            def replay() -> None:
                # After the response: the request's context is gone, handlers need the app's.
                with app.app_context():
                    spooled.replay_soon(sessions, HANDLERS)

            response.call_on_close(replay)
        return response


def spool() -> Spool:
    s: Spool = current_app.extensions["hotline.spool"]
    return s


def persist(*records: tuple[str, dict[str, Any]]) -> bool:
    """Write `(kind, record)`s to the database now, in one transaction, or all to the spool.

    Returns whether the database took them. Every handler is idempotent, so a batch that
    failed halfway is spooled whole and replays to the same end.
    """
    database = db.database()
    if database.available():
        session = db.session()
        try:
            for kind, record in records:
                HANDLERS[kind](session, record)
            session.commit()
            return True
        except UNREACHABLE as exc:
            database.mark_down(exc)
            rollback_quietly()
    for kind, record in records:
        spool().write(kind, record)
    return False


def apply_after_spooled(session: Any, *records: tuple[str, dict[str, Any]]) -> None:
    """Apply records in the request's transaction, unless earlier ones still wait in the spool.

    A record that reads what came before it (`call_ended` asks whether the call was served)
    must not overtake this machine's spooled records of the same call: while any are pending,
    it is spooled behind them and replayed in order.
    """
    if spool().pending():
        for kind, record in records:
            spool().write(kind, record)
        return
    for kind, record in records:
        HANDLERS[kind](session, record)


def call_ended_records(report: CallReport) -> list[tuple[str, dict[str, Any]]]:
    """`call_ended` for the final status of a caller's call to us (nothing for other legs)."""
    if (
        not report.status.is_final
        or report.direction is not CallDirection.INBOUND
        or report.parent_call_sid is not None
    ):
        return []
    return [("call_ended", {"call_sid": report.call_sid, "at": utcnow().isoformat()})]


def webhook_record(*, call: bool) -> dict[str, Any]:
    """The current webhook as a record for `persist("call" | "event", …)`."""
    settings = webhooks.settings()
    params = webhooks.params()
    record: dict[str, Any] = {
        "call_sid": params.get("CallSid", "")[:34],
        "route": request.path,
        "params": params_document(params),
        "token": webhooks.idempotency_token(),
        "at": utcnow().isoformat(),
    }
    if call:
        record.update(account_sid=settings.twilio_account_sid, region=settings.default_region)
    return record


def call_report() -> CallReport:
    """The current webhook's call parameters, validated (BadWebhook, a 400, when they are not)."""
    return CallReport.from_params(
        webhooks.params(), account_sid=webhooks.settings().twilio_account_sid
    )


def accept_call_durably(*also: tuple[str, dict[str, Any]]) -> CallReport:
    """Validate the call webhook (400 on bad input) and record it, with `also`, durably."""
    report = call_report()
    persist(("call", webhook_record(call=True)), *also)
    return report


def rollback_quietly() -> None:
    """Roll back the request's session; a connection that already died can't fail the caller."""
    try:
        db.session().rollback()
    except Exception:
        log.debug("rollback failed (the connection is gone)", exc_info=True)


def unless_db_down(fallback: Callable[..., Response]) -> Callable[[View], View]:
    """Run the view; if the database is down (now, or recently), answer with `fallback` instead.

    Only an unreachable or too slow database switches paths: bad input still gets its 400,
    and a bug still reaches the error handler.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            database = db.database()
            if database.available():
                try:
                    return view(*args, **kwargs)
                except UNREACHABLE as exc:
                    database.mark_down(exc)
                    rollback_quietly()
            return fallback(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
