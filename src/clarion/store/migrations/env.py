"""Alembic environment: runs on the connection handed over by clarion.store.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import clarion.store.all_tables  # noqa: F401  (registers every table on the metadata)
from clarion.store.metadata import metadata


def run_migrations(connection: Connection) -> None:
    """Run the pending migrations on one connection."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `clarion migrate`")
run_migrations(connection)
