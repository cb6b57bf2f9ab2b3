"""64-bit ids of the tables that grow with traffic; the readiness write probe row

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import clarion.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Columns holding ids that grow with every send, device, event or contact. SQLite's
# INTEGER PRIMARY KEY is already 64 bits; only PostgreSQL's serial int4 columns change.
_WIDENED = {
    "contacts": ["pk"],
    "installations": ["pk", "contact_pk"],
    "deliveries": ["id", "installation_pk"],
    "events": ["id", "installation_pk", "delivery_id"],
    "inbox_items": ["id", "contact_pk"],
    "cap_hits": ["id", "contact_pk"],
    "list_members": ["contact_pk"],
    "sends": ["plan_cursor"],
}
# Their serial sequences are int4 too, and would stop at 2^31 - 1 whatever the column.
_SEQUENCES = [
    ("contacts", "pk"),
    ("installations", "pk"),
    ("deliveries", "id"),
    ("events", "id"),
    ("inbox_items", "id"),
    ("cap_hits", "id"),
]


def _retype(sql_type: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, columns in _WIDENED.items():
        # One statement per table, so each table is rewritten once.
        clauses = ", ".join(f"ALTER COLUMN {column} TYPE {sql_type}" for column in columns)
        op.execute(f"ALTER TABLE {table} {clauses}")
    for table, column in _SEQUENCES:
        sequence = bind.execute(
            sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": table, "column": column},
        ).scalar_one()
        if sequence is not None:
            op.execute(f"ALTER SEQUENCE {sequence} AS {sql_type}")


def upgrade() -> None:
    """Apply this revision."""
    _retype("bigint")
    op.create_table(
        "write_probe",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("beat_at", clarion.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_probe")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("write_probe")
    _retype("integer")
