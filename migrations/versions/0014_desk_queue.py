"""The call-taker desk: call-takers and their states, queue entries, the call-back tasks of
callers who left the queue (hung up, or asked to be called back), and later calls from one
number grouped on its open call-back task

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OLD_KINDS = ("abandoned_bridge", "abandoned_ivr", "unanswered")
_NEW_KINDS = (*_OLD_KINDS, "abandoned_queue", "queue_callback")
_TAKER_STATES = ("available", "on_call", "wrap_up", "break", "logged_out")
_RESULTS = ("waiting", "bridged", "hangup", "callback", "failed")


def _kind_check(kinds: Sequence[str]) -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.drop_constraint(op.f("ck_callback_tasks_callbackkind"), type_="check")
        batch.create_check_constraint(
            op.f("ck_callback_tasks_callbackkind"),
            "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")",
        )


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    _kind_check(_NEW_KINDS)
    with op.batch_alter_table("callback_tasks") as batch:
        batch.add_column(sa.Column("repeats", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("callback_tasks") as batch:
        batch.alter_column("repeats", server_default=None)
    op.create_index(
        "ix_callback_tasks_caller_number_closed_at",
        "callback_tasks",
        ["caller_number", "closed_at"],
    )
    op.create_table(
        "call_takers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=255), nullable=False),
        sa.Column("state", _enum(_TAKER_STATES, "takerstate"), nullable=False),
        sa.Column("state_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leg_sid", sa.String(length=34), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("caller_sid", sa.String(length=34), nullable=True),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_takers")),
        sa.UniqueConstraint("username", name=op.f("uq_call_takers_username")),
    )
    op.create_table(
        "queue_entries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("queue", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("caller_number", sa.String(length=16), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", _enum(_RESULTS, "queueresult"), nullable=False),
        sa.Column("wait_s", sa.Integer(), nullable=True),
        sa.Column("callback_asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_entries")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_queue_entries_call_sid")),
    )
    op.create_index(
        "ix_queue_entries_result_enqueued_at", "queue_entries", ["result", "enqueued_at"]
    )
    op.create_table(
        "taker_state_changes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("state", _enum(_TAKER_STATES, "takerstate"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taker_state_changes")),
    )
    op.create_index("ix_taker_state_changes_at", "taker_state_changes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_taker_state_changes_at", table_name="taker_state_changes")
    op.drop_table("taker_state_changes")
    op.drop_index("ix_queue_entries_result_enqueued_at", table_name="queue_entries")
    op.drop_table("queue_entries")
    op.drop_table("call_takers")
    op.drop_index("ix_callback_tasks_caller_number_closed_at", table_name="callback_tasks")
    with op.batch_alter_table("callback_tasks") as batch:
        batch.drop_column("repeats")
    _kind_check(_OLD_KINDS)
