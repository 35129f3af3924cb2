"""Partition check-ins by arrival day on PostgreSQL.

The purge then drops a whole expired day in milliseconds instead of deleting its
rows one by one (registration/retention/partitions.py). The table keeps its
columns, keys, constraints and index names; a DEFAULT partition catches arrivals on
days without a partition so an insert never fails. Daily partitions are created
from one day before the retention period up to seven days ahead (the scheduler keeps
creating them). SQLite has no partitioning: nothing changes there.

The partition helpers are written out here rather than imported, so this migration
keeps doing the same thing when the application code moves on.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import datetime as dt
import os

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

DAYS_AHEAD = 7
INDEX_BACKED = ("pk_checkins", "uq_checkins_idempotency")
INDEXES = ("ix_checkins_area_open", "ix_checkins_location_arrival")


def _retention_days() -> int:
    raw = os.environ.get("GASTREGISTER_RETENTION_DAYS", "")
    return int(raw) if raw.strip().isdigit() else 28


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("arrival", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("departure", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_departure", sa.DateTime(timezone=True), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "guest_page",
                "guest_form",
                "staff_entry",
                name="checkin_source",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("checkout_token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _constraints() -> list[sa.Constraint]:
    return [
        sa.CheckConstraint("persons BETWEEN 1 AND 21", name=op.f("ck_checkins_persons_range")),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_checkins_area_id_areas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_checkins_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", "arrival", name=op.f("pk_checkins")),
        sa.UniqueConstraint("idempotency_key", "arrival", name="uq_checkins_idempotency"),
    ]


def _rebuild_checkins(**table_options: str) -> None:
    """Move the table aside, create the new one under the old names, copy, drop the old."""
    op.rename_table("checkins", "checkins_before_0002")
    for name in INDEX_BACKED:
        op.execute(f"ALTER TABLE checkins_before_0002 RENAME CONSTRAINT {name} TO {name}_0002")
    for name in INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_0002")
    op.create_table("checkins", *_columns(), *_constraints(), **table_options)
    op.create_index("ix_checkins_area_open", "checkins", ["area_id", "departure"])
    op.create_index("ix_checkins_location_arrival", "checkins", ["location_id", "arrival"])


def _day_start(day: dt.date) -> str:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).isoformat()


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rebuild_checkins(postgresql_partition_by="RANGE (arrival)")
    op.execute("CREATE TABLE checkins_default PARTITION OF checkins DEFAULT")
    now = dt.datetime.now(dt.UTC)
    day = (now - dt.timedelta(days=_retention_days() + 1)).date()
    last = (now + dt.timedelta(days=DAYS_AHEAD)).date()
    while day <= last:
        following = day + dt.timedelta(days=1)
        op.execute(
            f"CREATE TABLE checkins_p{day:%Y%m%d} PARTITION OF checkins "
            f"FOR VALUES FROM ('{_day_start(day)}') TO ('{_day_start(following)}')"
        )
        day = following
    op.execute("INSERT INTO checkins SELECT * FROM checkins_before_0002")
    op.drop_table("checkins_before_0002")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rebuild_checkins()
    op.execute("INSERT INTO checkins SELECT * FROM checkins_before_0002")
    # Dropping the partitioned table drops its partitions with it.
    op.drop_table("checkins_before_0002")
