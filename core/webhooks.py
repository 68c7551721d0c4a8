"""Twilio-facing request handling: strict form parsing, signature checks, TwiML responses."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

from flask import Blueprint, Response, abort, current_app, g, request
from twilio.request_validator import RequestValidator, compare, get_signature_algorithm
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.datastructures import ImmutableMultiDict

from config.settings import Settings

log = logging.getLogger(__name__)

#: Twilio sends a few dozen short parameters; anything larger is not Twilio.
MAX_FIELDS = 200
SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"

Params = ImmutableMultiDict[str, str]
CALL_SID_RE = re.compile(r"^CA[0-9a-f]{32}$")
ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-f]{32}$")


class BadWebhook(ValueError):
    """A webhook's parameters are missing or malformed; the message says which and why (400)."""


def our_account(params: Mapping[str, str], account_sid: str) -> str:
    """The webhook's AccountSid, which must be this hotline's account (else BadWebhook)."""
    account = params.get("AccountSid", "").strip()
    if not ACCOUNT_SID_RE.match(account):
        raise BadWebhook("AccountSid: expected 'AC' followed by 32 lowercase hex digits")
    if account.lower() != account_sid.lower():
        raise BadWebhook("AccountSid: not this hotline's Twilio account")
    return account


def settings() -> Settings:
    """The settings of the current app."""
    s: Settings = current_app.extensions["hotline.settings"]
    return s


#: The names of the blueprints `protect` made Twilio webhooks.
_WEBHOOK_BLUEPRINTS: set[str] = set()


def protect(blueprint: Blueprint) -> Blueprint:
    """Make every route of `blueprint` a Twilio webhook: signed, strictly parsed, POST only."""
    blueprint.before_request(_check_twilio_request)
    _WEBHOOK_BLUEPRINTS.add(blueprint.name)
    return blueprint


def is_webhook() -> bool:
    """Whether the current request is for a Twilio webhook (a route of a `protect`ed blueprint)."""
    return request.blueprint in _WEBHOOK_BLUEPRINTS


def params() -> Params:
    """The webhook's POST parameters, parsed strictly as UTF-8 (set by `protect`)."""
    p: Params = g.twilio_params
    return p


def idempotency_token() -> str | None:
    """Twilio's per-webhook token; a retry of the same webhook carries the same one."""
    token = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    return token[:128] or None


def public_request_url() -> str:
    """The URL Twilio requested, as Twilio saw it: PUBLIC_BASE_URL + path + query.

    `request.url` is wrong behind a TLS-terminating proxy (scheme, host, port), which is the
    usual cause of signature failures in the field, so it is never used here.
    """
    url = settings().public_base_url.rstrip("/") + request.path
    query = request.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


def _check_twilio_request() -> None:
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        log.warning("webhook refused: no %s header, path=%s", SIGNATURE_HEADER, request.path)
        abort(403, description=f"missing {SIGNATURE_HEADER} header")
    g.twilio_params = _parse_form()
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    validator = RequestValidator(settings().twilio_auth_token)
    url = public_request_url()
    # The URL exactly as configured is what Twilio signs; the library's validate() also tries it
    # with the port added and removed (two HMACs per request), so it is asked only on a mismatch.
    try:
        exact = validator.compute_signature(url, g.twilio_params, algorithm)
    except ValueError:  # an algorithm the library doesn't know: validate() refuses it, logged
        exact = ""
    if not compare(exact, signature) and not validator.validate(
        url, g.twilio_params, signature, algorithm
    ):
        log.warning(
            "webhook refused: signature does not match, path=%s (check PUBLIC_BASE_URL=%s)",
            request.path,
            settings().public_base_url,
        )
        abort(403, description="invalid Twilio signature")


def _parse_form() -> Params:
    """Parse the body as Twilio sends it: urlencoded UTF-8, no NULs, bounded in size."""
    mimetype = request.mimetype
    if mimetype and mimetype != "application/x-www-form-urlencoded":
        abort(415, description="expected application/x-www-form-urlencoded")
    raw = request.get_data(cache=True)
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        abort(400, description="request body is not valid UTF-8 form data")
    except ValueError:
        abort(400, description=f"too many form fields (at most {MAX_FIELDS})")
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            abort(400, description=f"NUL character in form field {name[:40]!r}")
    return ImmutableMultiDict(pairs)


def twiml(response: VoiceResponse | str) -> Response:
    """A Flask response carrying TwiML."""
    return Response(str(response), status=200, mimetype="text/xml")
