"""calls and call_events: every call by CallSid, and an append-only log of its webhooks

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
DIRECTIONS = ("inbound", "outbound-api", "outbound-dial")
STATUSES = (
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("parent_call_sid", sa.String(length=34), nullable=True),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column(
            "direction",
            sa.Enum(
                *DIRECTIONS,
                name="calldirection",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                *STATUSES, name="callstatus", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("from_number", sa.String(length=16), nullable=True),
        sa.Column("from_raw", sa.String(length=64), nullable=False),
        sa.Column("to_number", sa.String(length=16), nullable=True),
        sa.Column("to_raw", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "duration_s IS NULL OR duration_s >= 0", name=op.f("ck_calls_duration_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_calls_call_sid")),
    )
    op.create_table(
        "call_events",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("params", JSON_DOC, nullable=False),
        sa.Column("idempotency_token", sa.String(length=128), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_events")),
    )
    op.create_index(
        "ix_call_events_call_sid_received_at", "call_events", ["call_sid", "received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_call_events_call_sid_received_at", table_name="call_events")
    op.drop_table("call_events")
    op.drop_table("calls")
