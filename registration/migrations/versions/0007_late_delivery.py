"""check-ins delivered late are kept and marked; a late admission is spent once

A guest's phone keeps a sealed check-in in its outbox until it has a connection,
which may be days later. Such a check-in is now stored (up to the retention period)
with `delivered_late` set, and the health office sees the mark (docs/FORMAT.md §11).
Existing rows were all delivered in time.

`admission_digest` is set only on a check-in in rotating mode whose admission had
expired by the server's clock when it arrived (a phone that went offline after
scanning): it holds a keyed hash of that admission, which may be spent so only once
(registration/checkin/rules.py, admission_for).

Revision ID: 0007_late_delivery
Revises: 0006
Create Date: 2026-11-26 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_late_delivery"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # On PostgreSQL `checkins` is partitioned by arrival: ALTER TABLE on the parent
    # adds the columns to every partition, the DEFAULT partition included.
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delivered_late", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("admission_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_column("admission_digest")
        batch_op.drop_column("delivered_late")
