"""check-ins keep only a keyed hash of their idempotency key, and a digest of a
no-JavaScript form's typed-in values

The idempotency key proves a retry and derives the check-out token; whoever read it
from the database could replay it on the no-JavaScript form and take over that
guest's check-in. The column now holds HMAC-SHA-256(derive_key("idempotency-key"),
key) in hex (registration/checkin/storage.py, idempotency_key_hash); existing rows
are hashed here, so a phone that retries across the upgrade still finds its
check-in. `submission_digest` lets a resent no-JavaScript form be told from another
guest's form under the same key (form_submission_digest); older rows have none, and
a resend of such a form is a conflict rather than a takeover.

The key derivation is written out here rather than imported, so this migration keeps
doing the same thing when the application code moves on. The secret comes from the
settings `gastregister db upgrade` hands in (config.attributes["settings"]), or from
the environment as for any Alembic run; it is only needed when there are rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 03:30:00
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_ROWS = 1000


def _secret_key() -> str:
    settings = op.get_context().config.attributes.get("settings")
    if settings is None:
        from registration.config import Settings

        settings = Settings.from_env()
    secret: str = settings.secret_key
    if not secret:
        raise RuntimeError("SECRET_KEY is needed to hash the stored idempotency keys")
    return secret


def _hash_key(secret: str, idempotency_key: str) -> str:
    key = hashlib.sha256(b"gastregister/idempotency-key/" + secret.encode()).digest()
    return hmac.new(key, idempotency_key.encode(), hashlib.sha256).hexdigest()


def _checkins() -> sa.Table:
    return sa.table(
        "checkins",
        sa.column("id", sa.Uuid()),
        sa.column("arrival", sa.DateTime(timezone=True)),
        sa.column("idempotency_key_hash", sa.String(64)),
    )


def _hash_existing_rows() -> None:
    """Hash every stored key, a batch at a time (keyset order: no row twice, none left)."""
    bind = op.get_bind()
    checkins = _checkins()
    if bind.execute(sa.select(sa.func.count()).select_from(checkins)).scalar_one() == 0:
        return
    secret = _secret_key()
    after: tuple[object, object] | None = None
    while True:
        query = (
            sa.select(checkins.c.arrival, checkins.c.id, checkins.c.idempotency_key_hash)
            .order_by(checkins.c.arrival, checkins.c.id)
            .limit(BATCH_ROWS)
        )
        if after is not None:
            query = query.where(sa.tuple_(checkins.c.arrival, checkins.c.id) > sa.tuple_(*after))
        rows = bind.execute(query).all()
        for arrival, checkin_id, plain in rows:
            bind.execute(
                sa.update(checkins)
                .where(checkins.c.arrival == arrival, checkins.c.id == checkin_id)
                .values(idempotency_key_hash=_hash_key(secret, plain))
            )
        if len(rows) < BATCH_ROWS:
            return
        after = (rows[-1][0], rows[-1][1])


def upgrade() -> None:
    # A plain rename and a nullable column: both native on SQLite (3.25+) and, on
    # PostgreSQL, applied to every partition of the partitioned table (0002).
    with op.batch_alter_table("checkins", recreate="never") as batch:
        batch.alter_column("idempotency_key", new_column_name="idempotency_key_hash")
        batch.add_column(sa.Column("submission_digest", sa.String(length=64), nullable=True))
    _hash_existing_rows()


def downgrade() -> None:
    # The keys cannot be recovered from their hashes: retries of check-ins stored
    # before the downgrade are no longer recognised, which is why it is the last resort.
    with op.batch_alter_table("checkins", recreate="never") as batch:
        batch.drop_column("submission_digest")
        batch.alter_column("idempotency_key_hash", new_column_name="idempotency_key")
