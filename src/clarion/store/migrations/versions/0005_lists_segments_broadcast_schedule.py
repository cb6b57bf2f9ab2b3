"""lists, segments, broadcast schedule and plan cursor

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 08:42:28.193750
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import clarion.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "lists",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("created_at", clarion.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", clarion.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_lists_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_lists")),
        sa.UniqueConstraint("id", name=op.f("uq_lists_id")),
    )
    with op.batch_alter_table("lists", schema=None) as batch_op:
        batch_op.create_index("ix_lists_project_pk", ["project_id", "pk"], unique=False)

    op.create_table(
        "segments",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("created_at", clarion.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", clarion.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_segments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_segments")),
        sa.UniqueConstraint("id", name=op.f("uq_segments_id")),
    )
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.create_index("ix_segments_project_pk", ["project_id", "pk"], unique=False)

    op.create_table(
        "list_members",
        sa.Column("list_pk", sa.Integer(), nullable=False),
        sa.Column("contact_pk", sa.Integer(), nullable=False),
        sa.Column("added_at", clarion.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_pk"],
            ["contacts.pk"],
            name=op.f("fk_list_members_contact_pk_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_pk"],
            ["lists.pk"],
            name=op.f("fk_list_members_list_pk_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_pk", "contact_pk", name=op.f("pk_list_members")),
    )
    with op.batch_alter_table("list_members", schema=None) as batch_op:
        batch_op.create_index("ix_list_members_contact", ["contact_pk"], unique=False)

    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scheduled_at", clarion.store.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("plan_cursor", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_column("plan_cursor")
        batch_op.drop_column("scheduled_at")

    with op.batch_alter_table("list_members", schema=None) as batch_op:
        batch_op.drop_index("ix_list_members_contact")

    op.drop_table("list_members")
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_index("ix_segments_project_pk")

    op.drop_table("segments")
    with op.batch_alter_table("lists", schema=None) as batch_op:
        batch_op.drop_index("ix_lists_project_pk")

    op.drop_table("lists")
