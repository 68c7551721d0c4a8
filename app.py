"""Minsheng Hotline: the Flask application factory and the `hotline` operator CLI."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click
from flask import Flask, Request, Response, abort, jsonify, request
from flask.cli import FlaskGroup
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import api
import calls
import cases
import console
import core
import desk
import ivr
import open311
import providers
import recordings
import routing
import staff
import surveys
from config.files import ConfigFileError
from config.settings import Settings, SettingsError
from core import durable, limits, webhooks
from core.webhooks import BadWebhook
from ivr import twiml as ivr_twiml
from routing import bridge as routing_bridge
from surveys.views import apology as survey_apology

log = logging.getLogger("hotline")

#: Twilio callbacks with no caller on the line: an error there is a 503, not TwiML.
CALLBACK_ROUTES = (
    "/voice/status",
    "/voice/recording-status",
    "/voice/survey/status",
    "/voice/survey/amd",
    "/voice/sms-status",
)
#: The survey call: the callee is not calling us, so an error ends it politely (no transfer).
SURVEY_ROUTES = "/voice/survey/"
STATIC_APOLOGY = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Say language="cmn-CN" voice="Polly.Zhiyu">抱歉，系统繁忙，请稍后再拨。</Say>'
    '<Say language="en-US" voice="Polly.Joanna">Sorry, please call again later.</Say>'
    "</Response>"
)
#: An officer's leg of a bridge (TwiML run by <Number url>): no <Dial> may be answered there.
OFFICER_LEG_ROUTES = ("/voice/route/screen", "/voice/route/accept")
STATIC_HANGUP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'

#: Each package wires itself (blueprints, commands, start-up checks), lowest layer first: the
#: database and the job queue before anything that uses them.
PACKAGES = (
    core,
    staff,
    calls,
    recordings,
    routing,
    providers,
    desk,
    cases,
    surveys,
    ivr,
    api,
    console,
    open311,
)

#: Who may do how much (core/limits.py; the figures are settings): city apps filing through
#: Open311 by key and by address, API writes by token, console logins by address.
LIMITS = (
    limits.Rule("rate_limit_open311_key", "open311.create_request", limits.form_field("api_key")),
    limits.Rule("rate_limit_open311_address", "open311.create_request", limits.client_address),
    limits.Rule("rate_limit_api_writes", "api_v1.", limits.bearer_token),
    limits.Rule("rate_limit_login", "console.login", limits.client_address),
)

#: Twilio's webhooks are a few KiB; anything bigger is refused before it is parsed.
MAX_BODY_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; nothing happens at import time."""
    settings = settings or Settings.from_env()
    _configure_logging(settings)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
        SESSION_COOKIE_SECURE=settings.is_production,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.session_interface = _StaffSessions()
    app.extensions["hotline.settings"] = settings
    app.json.ensure_ascii = False  # type: ignore[attr-defined] # UTF-8 JSON: 中文 stays readable
    app.wsgi_app = _BoundedBody(app.wsgi_app)  # type: ignore[method-assign]
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )

    for package in PACKAGES:
        package.init_app(app)
    limits.init_app(app, LIMITS)
    app.before_request(_refuse_nul)
    app.after_request(_security_headers)
    _register_error_handlers(app)
    return app


class _BoundedBody:
    """WSGI middleware: a chunked body (no Content-Length, so MAX_CONTENT_LENGTH cannot refuse it
    up front, and Werkzeug would quietly parse only its first MAX_BODY_BYTES) is read here up to
    the limit: bigger is refused with 413 before the app sees it, smaller is handed on as an
    ordinary body of known length."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # With Transfer-Encoding, any Content-Length is to be ignored (RFC 9112, 6.3).
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
            if len(body) > MAX_BODY_BYTES:
                reason = f"the body is larger than {MAX_BODY_BYTES} bytes"
                payload = json.dumps({"error": "Request Entity Too Large", "reason": reason})
                start_response(
                    "413 REQUEST ENTITY TOO LARGE",
                    [("Content-Type", "application/json"), ("Connection", "close")],
                )
                return [payload.encode()]
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input_terminated"] = False
        return self.wsgi_app(environ, start_response)


#: Content-Security-Policy of everything but the console's pages (which set their own): no
#: page of ours other than the console's loads anything or may be framed.
_STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def _security_headers(response: Response) -> Response:
    """On every response (the console's blueprint sets a looser CSP for its own pages first):
    no MIME sniffing, no referrer off-site, no framing, and HSTS in production."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", _STRICT_CSP)
    if webhooks.settings().is_production:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


class _StaffSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions for the console's staff; Twilio's webhooks carry no cookie and
    get none (opening one costs a signing key per request on the busiest routes)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/voice/"):
            return self.null_session_class()
        return super().open_session(app, request)


def _refuse_nul() -> None:
    """No NUL character in a path, query or form: PostgreSQL cannot store one, no client means
    one. (Twilio's webhooks are parsed more strictly still, by core.webhooks.)"""
    fields = list(request.args.items(multi=True))
    if request.method == "POST" and not request.path.startswith("/voice/"):
        fields += list(request.form.items(multi=True))
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in fields):
        abort(400, description="NUL characters are not allowed")


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if request.path.startswith("/console/"):  # no console page matched: the console's own
            return console.error_page(exc)
        code = exc.code or 500
        response = jsonify(error=exc.name, reason=exc.description)
        for name, value in exc.get_headers():  # `Allow` on a 405, `Retry-After` on a 429
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, code

    @app.errorhandler(BadWebhook)
    def bad_webhook(exc: BadWebhook) -> tuple[Response, int]:
        durable.rollback_quietly()
        log.warning("webhook refused: %s, path=%s", exc, request.path)
        return jsonify(error="Bad Request", reason=str(exc)), 400

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response | tuple[Response, int]:
        # A bug or an outage. Nothing half-done is kept, and a caller is never left with
        # Twilio's "application error": a route a caller is on still answers with safe TwiML.
        # Callbacks nobody listens to get a 503, so Twilio may deliver them again.
        durable.rollback_quietly()
        log.exception("unhandled error on %s", request.path)
        if request.path.startswith(CALLBACK_ROUTES):
            return jsonify(error="Service Unavailable", reason="temporarily unavailable"), 503
        if request.path in OFFICER_LEG_ROUTES:
            return _officer_leg_apology()
        if request.path.startswith("/voice/"):
            try:
                if request.path.startswith(SURVEY_ROUTES):
                    return webhooks.twiml(survey_apology())
                return webhooks.twiml(ivr_twiml.apology(webhooks.settings()))
            except Exception:  # even the settings are unavailable: a fixed answer
                log.exception("apology failed on %s", request.path)
                return Response(STATIC_APOLOGY, status=200, mimetype="text/xml")
        return jsonify(error="Internal Server Error", reason="unexpected error, logged"), 500


def _officer_leg_apology() -> Response:
    """An error on an officer's leg (the whisper or the key press) answered as that leg allows.

    TwiML run by a <Number url> may not contain <Dial>, so the caller's apology is wrong here.
    A failed whisper is replaced by a fixed one that still asks for a key; a failed key press
    bridges the officer if they pressed one (a person did), else hangs up so the tier moves on.
    """
    try:
        if request.path == OFFICER_LEG_ROUTES[0]:
            query = request.query_string.decode("latin-1")
            return webhooks.twiml(routing_bridge.screen_failed(webhooks.settings(), query))
        pressed = bool(request.form.get("Digits", "").strip())
        return webhooks.twiml(routing_bridge.accepted(pressed))
    except Exception:
        log.exception("officer-leg apology failed on %s", request.path)
        return Response(STATIC_HANGUP, status=200, mimetype="text/xml")


def _configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("hotline").setLevel(settings.log_level.upper())
    for name in ("core", "calls", "ivr", "routing", "recordings"):
        logging.getLogger(name).setLevel(settings.log_level.upper())


cli = FlaskGroup(
    name="hotline",
    create_app=create_app,
    add_version_option=False,
    # Settings come from the environment only (config/settings.py): no .env or .flaskenv files,
    # so neither Flask's python-dotenv tip (printed where such a file exists without
    # python-dotenv) nor its --env-file option, which needs python-dotenv.
    load_dotenv=False,
    help="Minsheng Hotline operator commands (settings come from the environment).",
)
cli.params = [param for param in cli.params if param.name != "env_file"]

# The developer tools (`hotline call`, `hotline bench`) are not part of the product: they live in
# tools/, a distribution of their own that a checkout installs beside it (`make install`), and
# join this CLI through Flask's `flask.commands` entry points. A wheel of the product has none.


def main() -> None:
    """Entry point of the `hotline` console script."""
    try:
        cli.main(prog_name="hotline")
    except (SettingsError, ConfigFileError) as exc:
        click.echo(f"hotline: configuration error: {exc}", err=True)
        sys.exit(2)
