"""Liveness and readiness probes."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from app import create_app
from tests.support import make_settings


def test_healthz_answers_without_auth(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_a_reachable_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    dead = "postgresql://hotline@127.0.0.1:9/nowhere?connect_timeout=1"
    app = create_app(make_settings(dead, tmp_path))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}
