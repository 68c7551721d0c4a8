"""case_surveys (one callback survey per resolution of a case) and survey_optouts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("scheduled", "dialing", "completed", "unreachable", "cancelled")


def upgrade() -> None:
    op.create_table(
        "case_surveys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_number", sa.String(length=32), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("caller_number", sa.String(length=16), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                *STATES, name="surveystate", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_surveys")),
        sa.UniqueConstraint("case_number", "round", name="uq_case_surveys_case_number_round"),
    )
    op.create_index("ix_case_surveys_state_due_at", "case_surveys", ["state", "due_at"])
    op.create_table(
        "survey_optouts",
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_survey_optouts")),
    )


def downgrade() -> None:
    op.drop_table("survey_optouts")
    op.drop_index("ix_case_surveys_state_due_at", table_name="case_surveys")
    op.drop_table("case_surveys")
