"""Rate limits (Flask-Limiter): how often one client may file, write or try a password.

The limits themselves are settings (`RATE_LIMIT_*`, in limits' notation: "30 per minute;300 per
hour"); which route each applies to, and by what it counts, is the app's list (app.py LIMITS).
They count in memory on the embedded default (one process), in Redis in production
(`RATE_LIMIT_STORAGE`, else `REDIS_URL`). A client over a limit gets 429 with `Retry-After`
and the reason; Twilio's webhooks are never limited (a caller must always get through).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, request
from flask_limiter import Limiter

from core import webhooks

#: The methods that write: reads are never limited.
WRITES = ["POST", "PUT", "PATCH", "DELETE"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """One limit: the setting that holds it, where it applies, and what it counts by."""

    setting: str
    #: A view's endpoint ("open311.create_request") or, ending with ".", a whole blueprint.
    target: str
    key: Callable[[], str]


def client_address() -> str:
    """The client's address (the proxy's X-Forwarded-For, when PROXY_HOPS trusts it)."""
    return request.remote_addr or "unknown"


def form_field(name: str) -> Callable[[], str]:
    """Count by a form field (an Open311 api_key), hashed; without one, by address."""

    def key() -> str:
        value = request.form.get(name, "")
        return f"{name}:{_digest(value)}" if value else f"address:{client_address()}"

    return key


def bearer_token() -> str:
    """Count by the bearer token (one per user and tool), hashed; without one, by address."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer ") and header[7:].strip():
        return f"token:{_digest(header[7:].strip())}"
    return f"address:{client_address()}"


def init_app(app: Flask, rules: Sequence[Rule]) -> Limiter:
    """Start counting for `rules` on `app` (after every blueprint is registered)."""
    settings = app.extensions["hotline.settings"]
    storage = settings.rate_limit_storage or settings.redis_url or "memory://"
    limiter = Limiter(
        client_address,
        app=app,
        storage_uri=storage,
        headers_enabled=True,
        strategy="moving-window",
        key_prefix="hotline-limits",
    )
    for rule in rules:
        limit = limiter.limit(getattr(settings, rule.setting), key_func=rule.key, methods=WRITES)
        if rule.target.endswith("."):
            blueprint: Any = app.blueprints[rule.target[:-1]]
            limit(blueprint)
        else:
            view: Any = app.view_functions[rule.target]
            app.view_functions[rule.target] = limit(view)
    _never_for_webhooks(app, limiter)
    app.extensions["hotline.limiter"] = limiter
    return limiter


def _never_for_webhooks(app: Flask, limiter: Limiter) -> None:
    """Take Twilio's webhooks out of the limiter's request hook, not only out of its limits.

    No limit applies to them, but the hook would still resolve every request's limits before
    finding none (0.1 ms, 3% of a worker's CPU under `hotline bench`): it runs only for the
    other requests now.
    """
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit  # the hook Flask-Limiter registered
    position = hooks.index(check)

    def check_unless_webhook() -> None:
        if not webhooks.is_webhook():
            check()

    hooks[position] = check_unless_webhook


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
