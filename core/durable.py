"""Writes that must not be lost when the database is down: done now, or spooled and replayed.

Every record kind has one idempotent handler, used both for the immediate write and for the
replay, so the database ends up the same whichever path a record took. Each domain registers
the handlers of its own kinds when its module is imported (`@durable.handler("dial")`): calls
(`call`, `event`), alerts (`alert`), recordings (`recording`), routing (its bridges' records),
cases (`case_intake`) and the IVR (`call_ended`, which needs every layer below it). The app
imports every domain before it serves a request, so the replay after a request knows them all.

A record of a kind nobody registered is a bug, not an outage: writing one raises
`UnknownRecordKind` at once, whether the database is up or not, and nothing of it is written.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from flask import Flask, Response, current_app

from core import db
from core.db import UNREACHABLE
from core.spool import Handler, Spool

log = logging.getLogger(__name__)
View = TypeVar("View", bound=Callable[..., Response])
#: What `persist` takes: the record's kind and the record (plain JSON-able data).
Record = tuple[str, dict[str, Any]]

_handlers: dict[str, Handler] = {}
#: Every registered kind and its handler (read-only: register with `handler` or `register`).
HANDLERS: Mapping[str, Handler] = MappingProxyType(_handlers)


class UnknownRecordKind(LookupError):
    """A record of a kind no domain registered a handler for."""


def register(kind: str, fn: Handler) -> Handler:
    """Make `fn` the handler of `kind` records, and return it.

    A kind has one handler: registering another one for it raises ValueError (registering the
    same one again changes nothing).
    """
    existing = _handlers.setdefault(kind, fn)
    if existing is not fn:
        raise ValueError(
            f"spool record kind {kind!r} already has a handler "
            f"({existing.__module__}.{existing.__qualname__})"
        )
    return fn


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Decorator: `@durable.handler("dial")` registers the function for `dial` records."""
    return functools.partial(register, kind)


def _handler(kind: str) -> Handler:
    try:
        return _handlers[kind]
    except KeyError:
        known = ", ".join(sorted(_handlers))
        raise UnknownRecordKind(
            f"no handler for spool record kind {kind!r} (registered: {known})"
        ) from None


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


def persist(*records: Record) -> bool:
    """Write `(kind, record)`s to the database now, in one transaction, or all to the spool.

    Returns whether the database took them. Every handler is idempotent, so a batch that
    failed halfway is spooled whole and replays to the same end.
    """
    handlers = [(_handler(kind), record) for kind, record in records]
    database = db.database()
    if database.available():
        session = db.session()
        try:
            for fn, record in handlers:
                fn(session, record)
            session.commit()
            return True
        except UNREACHABLE as exc:
            database.mark_down(exc)
            rollback_quietly()
    write(*records)
    return False


def write(*records: Record) -> None:
    """Append records to the spool, to be applied when the database is back (or sooner)."""
    for kind, _ in records:
        _handler(kind)
    for kind, record in records:
        spool().write(kind, record)


def apply_after_spooled(session: Any, *records: Record) -> None:
    """Apply records in the request's transaction, unless earlier ones still wait in the spool.

    A record that reads what came before it (`call_ended` asks whether the call was served)
    must not overtake this machine's spooled records of the same call: while any are pending,
    it is spooled behind them and replayed in order.
    """
    if spool().pending():
        write(*records)
        return
    for kind, record in records:
        _handler(kind)(session, record)


def parse_time(value: str | dt.datetime) -> dt.datetime:
    """A record's time: ISO 8601 text as spooled (a handler called directly may get a datetime)."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


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
