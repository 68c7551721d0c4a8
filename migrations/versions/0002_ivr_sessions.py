"""ivr_sessions: per-call IVR state keyed by CallSid (node, retries, what was said, verdict)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ivr_sessions",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("no_input_count", sa.Integer(), nullable=False),
        sa.Column("no_match_count", sa.Integer(), nullable=False),
        sa.Column("digits", sa.String(length=64), nullable=False),
        sa.Column("utterances", JSON_DOC, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "emergency",
                "service",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("classifier_confidence", sa.Float(), nullable=True),
        sa.Column("branch", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("last_twiml", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("step >= 0", name=op.f("ck_ivr_sessions_step_not_negative")),
        sa.ForeignKeyConstraint(
            ["call_sid"],
            ["calls.call_sid"],
            name=op.f("fk_ivr_sessions_call_sid_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_sessions")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_ivr_sessions_call_sid")),
    )


def downgrade() -> None:
    op.drop_table("ivr_sessions")
