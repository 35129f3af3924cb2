"""owners can decline a trace request or ask back; notes between owner and office

`trace_request_notes` holds the short texts of that exchange: the owner's reason for
declining, a question back, the office's answer. `trace_requests.declined_at` stamps
the new final state `declined` (retention counts a request as finished from then).
The state column is a plain string (native_enum=False), so the new states `declined`
and `queried` need no change to it.

Revision ID: 0008_owner_replies
Revises: 0007_late_delivery
Create Date: 2026-11-26 05:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_owner_replies"
down_revision: str | None = "0007_late_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trace_request_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trace_request_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "decline_reason",
                "question",
                "answer",
                name="trace_request_note_kind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_request_id"],
            ["trace_requests.id"],
            name=op.f("fk_trace_request_notes_trace_request_id_trace_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_trace_request_notes_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_request_notes")),
    )
    with op.batch_alter_table("trace_request_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trace_request_notes_trace_request_id"),
            ["trace_request_id"],
            unique=False,
        )
    with op.batch_alter_table("trace_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trace_requests", schema=None) as batch_op:
        batch_op.drop_column("declined_at")
    with op.batch_alter_table("trace_request_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_request_notes_trace_request_id"))
    op.drop_table("trace_request_notes")
