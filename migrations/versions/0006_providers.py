"""providers: contracted market service providers, their jobs on cases, and complaints

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=128), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("categories", JSON_DOC, nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("contract_start", sa.Date(), nullable=False),
        sa.Column("contract_end", sa.Date(), nullable=False),
        sa.Column("prices", JSON_DOC, nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "active",
                "suspended",
                "expired",
                name="providerstate",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspension_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "contract_end >= contract_start", name=op.f("ck_providers_contract_dates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("code", name=op.f("uq_providers_code")),
    )
    op.create_table(
        "provider_jobs",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.String(length=32), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("price", sa.Numeric(10, 2), nullable=False),
        sa.Column("quoted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.CheckConstraint("price > 0", name=op.f("ck_provider_jobs_price_positive")),
        sa.CheckConstraint(
            "satisfaction BETWEEN 1 AND 5", name=op.f("ck_provider_jobs_satisfaction_range")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_jobs_provider_id_providers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_jobs")),
    )
    op.create_index("ix_provider_jobs_case_number", "provider_jobs", ["case_number"], unique=False)
    op.create_index(
        "ix_provider_jobs_provider_id_completed_at",
        "provider_jobs",
        ["provider_id", "completed_at"],
        unique=False,
    )
    op.create_table(
        "provider_complaints",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_complaints_provider_id_providers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_complaints")),
    )
    op.create_index(
        "ix_provider_complaints_provider_id_at",
        "provider_complaints",
        ["provider_id", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_provider_complaints_provider_id_at", table_name="provider_complaints")
    op.drop_table("provider_complaints")
    op.drop_index("ix_provider_jobs_provider_id_completed_at", table_name="provider_jobs")
    op.drop_index("ix_provider_jobs_case_number", table_name="provider_jobs")
    op.drop_table("provider_jobs")
    op.drop_table("providers")
