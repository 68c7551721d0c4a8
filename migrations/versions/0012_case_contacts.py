"""The name and e-mail address a city app's filer gives (Open311 `first_name`, `last_name`,
`email`): kept for staff, never published

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("contact_first_name", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("contact_last_name", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("contact_email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("contact_email")
        batch.drop_column("contact_last_name")
        batch.drop_column("contact_first_name")
