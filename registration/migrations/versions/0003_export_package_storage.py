"""Store export packages without TOAST compression on PostgreSQL.

A package is mostly base64 of ciphertext: pglz spent ~0.9 s on a 50,000-visit package
and saved nothing measurable, which was a third of the time to build it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 13:35:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE export_packages ALTER COLUMN content SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE export_packages ALTER COLUMN content SET STORAGE EXTENDED")
