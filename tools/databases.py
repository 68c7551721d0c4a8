"""Throw-away databases for tests and benchmarks: a SQLite file, or a PostgreSQL schema."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from core.db import engine_url, make_engine


@contextlib.contextmanager
def scratch_database(directory: Path, postgresql_url: str | None = None) -> Iterator[str]:
    """An empty database, removed afterwards; yields its URL.

    Without `postgresql_url`, a new SQLite file in `directory`; with it, a schema of its own in
    that PostgreSQL database (the URL's `search_path` points at it), dropped at the end.
    """
    if postgresql_url is None:
        yield f"sqlite:///{directory / f'hotline-{uuid.uuid4().hex[:8]}.db'}"
        return
    base = engine_url(postgresql_url)
    schema = f"hotline_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base.render_as_string(hide_password=False))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
