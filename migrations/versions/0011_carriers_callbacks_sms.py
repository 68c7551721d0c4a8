"""SIP addresses for officers, call-back tasks for abandoned calls, text messages and their
delivery, and Twilio's `initiated` call status

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OLD_STATUSES = (
    "queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"
)  # fmt: skip
_NEW_STATUSES = ("queued", "initiated", *_OLD_STATUSES[1:])
_KINDS = ("abandoned_bridge", "abandoned_ivr", "unanswered")


def _status_check(statuses: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


def _replace_status_check(statuses: Sequence[str]) -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_constraint(op.f("ck_calls_callstatus"), type_="check")
        batch.create_check_constraint(op.f("ck_calls_callstatus"), _status_check(statuses))


def upgrade() -> None:
    _replace_status_check(_NEW_STATUSES)
    with op.batch_alter_table("officers") as batch:
        batch.alter_column("phone", existing_type=sa.String(length=16), type_=sa.String(length=255))
    with op.batch_alter_table("bridge_attempts") as batch:
        batch.alter_column(
            "answered_phone", existing_type=sa.String(length=16), type_=sa.String(length=255)
        )
    op.create_table(
        "callback_tasks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *_KINDS, name="callbackkind", native_enum=False, create_constraint=True, length=24
            ),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("caller_number", sa.String(length=16), nullable=True),
        sa.Column("route", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_tasks")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_callback_tasks_call_sid")),
    )
    op.create_index("ix_callback_tasks_open", "callback_tasks", ["closed_at", "priority"])
    op.create_table(
        "sms_messages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("to_number", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("case_number", sa.String(length=32), nullable=True),
        sa.Column("message_sid", sa.String(length=34), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
        sa.UniqueConstraint("key", name=op.f("uq_sms_messages_key")),
        sa.UniqueConstraint("message_sid", name=op.f("uq_sms_messages_message_sid")),
    )
    op.create_index("ix_sms_messages_case_number", "sms_messages", ["case_number"])


def downgrade() -> None:
    op.drop_index("ix_sms_messages_case_number", table_name="sms_messages")
    op.drop_table("sms_messages")
    op.drop_index("ix_callback_tasks_open", table_name="callback_tasks")
    op.drop_table("callback_tasks")
    with op.batch_alter_table("bridge_attempts") as batch:
        batch.alter_column(
            "answered_phone", existing_type=sa.String(length=255), type_=sa.String(length=16)
        )
    with op.batch_alter_table("officers") as batch:
        batch.alter_column("phone", existing_type=sa.String(length=255), type_=sa.String(length=16))
    op.execute("UPDATE calls SET status = 'queued' WHERE status = 'initiated'")
    _replace_status_check(_OLD_STATUSES)
