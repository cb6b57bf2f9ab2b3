"""Send tables: one row per send, one row per targeted device (the delivery trail)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from clarion.store.metadata import metadata
from clarion.store.types import BigId, UtcDateTime

sends = Table(
    "sends",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    # accepted (or scheduled) -> planning -> delivering -> done; failed when planning is
    # given up; cancelled at any point before it ends.
    Column("status", String(16), nullable=False),
    # The validated native command, so planning can resume after a restart.
    Column("request", JSON, nullable=False),
    Column("idempotency_key", String(256), nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("targeted", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime(), nullable=True),
    # Broadcasts: when planning is due, and the last installation pk already planned.
    Column("scheduled_at", UtcDateTime(), nullable=True),
    Column("plan_cursor", BigId, nullable=True),
    # Throttled sends: message slots handed out so far and when the first one was.
    Column("throttle_reserved", Integer, nullable=False, server_default="0"),
    Column("throttle_started_at", UtcDateTime(), nullable=True),
    # Two requests with the same key in one project can only ever create one send.
    UniqueConstraint("project_id", "idempotency_key", name="uq_sends_project_id_idempotency_key"),
    Index("ix_sends_project_created", "project_id", "created_at"),
    # The stuck-send sweep reads the open sends.
    Index("ix_sends_status", "status"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("send_id", String(40), ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
    Column(
        "installation_pk",
        BigId,
        ForeignKey("installations.pk", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("app_id", String(64), nullable=True),
    Column("installation_id", String(256), nullable=True),
    Column("platform", String(16), nullable=True),
    # What the caller asked for (token, external id...) so unmatched recipients leave a trace.
    Column("recipient_kind", String(24), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("token", Text, nullable=True),
    Column("language", String(35), nullable=True),
    # pending until a final outcome: sent, not_found, undeliverable, error, cancelled.
    Column("outcome", String(16), nullable=False),
    Column("provider_status", Integer, nullable=True),
    Column("provider_reason", String(128), nullable=True),
    Column("provider_message_id", String(256), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("first_attempt_at", UtcDateTime(), nullable=True),
    Column("last_attempt_at", UtcDateTime(), nullable=True),
    Column("completed_at", UtcDateTime(), nullable=True),
    # When a throttled delivery may start (its outcome reads `throttled` until then).
    Column("scheduled_at", UtcDateTime(), nullable=True),
    Index("ix_deliveries_send_outcome", "send_id", "outcome"),
    Index("ix_deliveries_installation", "installation_pk"),
)
