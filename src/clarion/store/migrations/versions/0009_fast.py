"""jobs claim index, in the claim's order over claimable rows

Revision ID: 0009_fast
Revises: 0008
Create Date: 2026-12-01 17:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_fast"
down_revision = "0008"
branch_labels = None
depends_on = None

CLAIMABLE = "status IN ('queued', 'leased')"


def upgrade() -> None:
    """Apply this revision."""
    # A claim reads about `limit` index entries instead of sorting the whole backlog. The
    # (status, run_at) index goes: SQLite would keep choosing it for the claim and sort
    # every due job; the purge reads jobs by age instead.
    op.drop_index("ix_jobs_status_run_at", table_name="jobs")
    op.create_index("ix_jobs_updated_at", "jobs", ["updated_at"], unique=False)
    op.create_index(
        "ix_jobs_claim",
        "jobs",
        [sa.text("priority DESC"), "run_at", "id"],
        unique=False,
        sqlite_where=sa.text(CLAIMABLE),
        postgresql_where=sa.text(CLAIMABLE),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.drop_index("ix_jobs_updated_at", table_name="jobs")
    op.create_index("ix_jobs_status_run_at", "jobs", ["status", "run_at"], unique=False)
