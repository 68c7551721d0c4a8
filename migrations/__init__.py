"""Alembic migrations: they own the schema on SQLite and PostgreSQL alike."""
