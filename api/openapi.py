"""The OpenAPI 3 document of `/api/v1`, kept by hand in api/openapi.yaml next to the routes and
served at `/api/v1/openapi.json` with this deployment's URL as its server.

tests/test_api.py runs schemathesis against it, so a route that strays from it fails.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml
from flask import Response, jsonify

from api.common import bp
from core.webhooks import settings


@functools.cache
def _stored() -> dict[str, Any]:
    text = resources.files("api").joinpath("openapi.yaml").read_text("utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def document(server: str) -> dict[str, Any]:
    """The document, with `server` (the public base URL) as its server."""
    return {**_stored(), "servers": [{"url": server.rstrip("/") + "/api/v1"}]}


@bp.get("/openapi.json")
def openapi() -> Response:
    """This API's OpenAPI 3 document."""
    return jsonify(document(settings().public_base_url))
