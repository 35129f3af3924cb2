"""revocable log-in sessions, TOTP setup secret on the server, login throttling

`login_sessions` holds one row per logged-in browser (the hash of the token its
cookie carries): log-out deletes the row, so a copied cookie dies with it. The TOTP
secret being set up moves out of the signed but readable session cookie into
`users.pending_totp_secret`. The hard lock-out `users.locked_until` gives way to
`users.login_throttled_until`, which slows down only clients that are not one of
the owner's devices (registration/accounts/throttling.py); a running lock is not
carried over.

Revision ID: 0006
Revises: 0005 (written beside 0005 on another branch; chained after it when the two met)
Create Date: 2026-11-26 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_login_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_sessions_token_hash")),
    )
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_sessions_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("login_throttled_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("pending_totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("pending_totp_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column("pending_totp_started_at")
        batch_op.drop_column("pending_totp_secret")
        batch_op.drop_column("login_throttled_until")
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_sessions_user_id"))
    op.drop_table("login_sessions")
