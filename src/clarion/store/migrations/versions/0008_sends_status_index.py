"""sends status index, for the stuck-send sweep

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01 15:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    # The sweep looks for the few open sends among all sends every minute.
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.create_index("ix_sends_status", ["status"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_index("ix_sends_status")
