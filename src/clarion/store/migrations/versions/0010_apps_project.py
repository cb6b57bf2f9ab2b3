"""apps by project, so device lookups start from the project's few apps

Revision ID: 0010_apps_project
Revises: 0009_fast
Create Date: 2026-12-01 19:05:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0010_apps_project"
down_revision = "0009_fast"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    # Without it SQLite resolves a recipient by scanning every installation of every
    # project: the join has no way in from the project side.
    op.create_index("ix_apps_project_id", "apps", ["project_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_apps_project_id", table_name="apps")
