"""survey calls: attempts, answers, the global pacer, and the survey's call fields

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("case_surveys") as batch:
        batch.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="zh")
        )
        batch.add_column(sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("concluded_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("negative", sa.Boolean(), nullable=True))
    with op.batch_alter_table("case_surveys") as batch:
        batch.alter_column("language", server_default=None)
    op.create_table(
        "survey_attempts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("survey_id", _ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answered_by", sa.String(length=24), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["case_surveys.id"],
            name=op.f("fk_survey_attempts_survey_id_case_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_attempts")),
        sa.UniqueConstraint("survey_id", "attempt", name="uq_survey_attempts_survey_id_attempt"),
    )
    op.create_index("ix_survey_attempts_call_sid", "survey_attempts", ["call_sid"])
    op.create_table(
        "survey_answers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("survey_id", _ID, nullable=False),
        sa.Column("question", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=True),
        sa.Column("positive", sa.Boolean(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["case_surveys.id"],
            name=op.f("fk_survey_answers_survey_id_case_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sa.UniqueConstraint("survey_id", "question", name="uq_survey_answers_survey_id_question"),
    )
    op.create_table(
        "pacers",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pacers")),
    )


def downgrade() -> None:
    op.drop_table("pacers")
    op.drop_table("survey_answers")
    op.drop_index("ix_survey_attempts_call_sid", table_name="survey_attempts")
    op.drop_table("survey_attempts")
    with op.batch_alter_table("case_surveys") as batch:
        for column in (
            "negative",
            "outcome",
            "concluded_at",
            "last_attempt_at",
            "first_attempt_at",
            "language",
        ):
            batch.drop_column(column)
