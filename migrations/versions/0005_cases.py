"""cases: service cases, their append-only audit log, and per-day counters for case numbers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
STATES = (
    "received",
    "handled_on_spot",
    "dispatched",
    "accepted",
    "in_progress",
    "resolved",
    "closed",
    "reopened",
)
KINDS = ("emergency", "help", "complaint", "consultation")
SOURCES = ("phone", "api", "open311")


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "case_counters",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_case_counters")),
    )
    op.create_table(
        "cases",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=True),
        sa.Column("kind", _enum(KINDS, "casekind"), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("caller_number", sa.String(length=16), nullable=True),
        sa.Column("caller_raw", sa.String(length=64), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("recording_sid", sa.String(length=34), nullable=True),
        sa.Column("state", _enum(STATES, "casestate"), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("source", _enum(SOURCES, "casesource"), nullable=False),
        sa.CheckConstraint("reopen_count >= 0", name=op.f("ck_cases_reopen_count_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_cases_call_sid")),
        sa.UniqueConstraint("number", name=op.f("uq_cases_number")),
    )
    op.create_index("ix_cases_created_at", "cases", ["created_at"], unique=False)
    op.create_index("ix_cases_state_due_at", "cases", ["state", "due_at"], unique=False)
    op.create_index("ix_cases_state_remind_at", "cases", ["state", "remind_at"], unique=False)
    op.create_index("ix_cases_unit_code_state", "cases", ["unit_code", "state"], unique=False)
    op.create_table(
        "case_events",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("case_id", BIGINT_PK, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", _enum(STATES, "from_state"), nullable=True),
        sa.Column("to_state", _enum(STATES, "to_state"), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_events_case_id_cases"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index("ix_case_events_case_id_at", "case_events", ["case_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_events_case_id_at", table_name="case_events")
    op.drop_table("case_events")
    op.drop_index("ix_cases_unit_code_state", table_name="cases")
    op.drop_index("ix_cases_state_remind_at", table_name="cases")
    op.drop_index("ix_cases_state_due_at", table_name="cases")
    op.drop_index("ix_cases_created_at", table_name="cases")
    op.drop_table("cases")
    op.drop_table("case_counters")
