"""unit_pin_failures (locking the report-back line), and an index for a caller's open cases

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unit_pin_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_pin_failures")),
    )
    op.create_index("ix_unit_pin_failures_unit_code_at", "unit_pin_failures", ["unit_code", "at"])
    op.create_index("ix_cases_caller_number_state", "cases", ["caller_number", "state"])


def downgrade() -> None:
    op.drop_index("ix_cases_caller_number_state", table_name="cases")
    op.drop_index("ix_unit_pin_failures_unit_code_at", table_name="unit_pin_failures")
    op.drop_table("unit_pin_failures")
