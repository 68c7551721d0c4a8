"""The JSON API (`/api/v1`): the console's resources for units and other city systems.

Every route but the OpenAPI document needs `Authorization: Bearer <token>` (`hotline users token
NAME`); the token acts as its user, with that user's role: a unit contact sees only the unit's
cases (and their recordings), the center's roles see everything, a `client` (a city app) files
requests through Open311 and reads nothing here. Lists are paginated with `limit` (1–200,
default 50) and `offset`; the answer says `next_offset` (null at the end). Errors are JSON
`{"error": …, "reason": …}` with a 4xx status. The document at `/api/v1/openapi.json`
(api/openapi.yaml) describes exactly these routes and is checked by schemathesis in the tests.

api.common holds the blueprint, authentication, errors and pagination; each resource is a module
of its own that adds its routes to the blueprint (imported here, so that they are on it before
any app registers it).
"""

from __future__ import annotations

from flask import Flask

from api import calls, cases, figures, openapi, providers, recordings, roster, surveys
from api.common import bp

#: The modules whose routes are on the blueprint.
RESOURCES = (openapi, cases, calls, recordings, roster, surveys, providers, figures)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
