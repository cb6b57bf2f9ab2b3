"""Registry tables: projects, API keys, apps, provider credentials, contacts, installations."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from clarion.store.metadata import metadata
from clarion.store.types import BigId, UtcDateTime

projects = Table(
    "projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("app_ids", JSON, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

apps = Table(
    "apps",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    # Globally unique so that a key of one project naming another project's app gets 403.
    Column("id", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    # Device lookups join from a project's apps to their installations.
    Index("ix_apps_project_id", "project_id"),
)

provider_credentials = Table(
    "provider_credentials",
    metadata,
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), primary_key=True),
    Column("provider", String(16), primary_key=True),
    # Fields safe to show back to API callers (team id, topic, VAPID public key...).
    Column("public_config", JSON, nullable=False),
    # Encrypted JSON of the secret fields (p8 key, service account, VAPID private key).
    Column("secret_blob", LargeBinary, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("external_id", String(256), nullable=False),
    Column("email", String(320), nullable=True),
    Column("phone", String(32), nullable=True),
    Column("language", String(35), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("attributes", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("project_id", "external_id", name="uq_contacts_project_id_external_id"),
    Index("ix_contacts_project_email", "project_id", "email"),
)

installations = Table(
    "installations",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("app_pk", Integer, ForeignKey("apps.pk", ondelete="CASCADE"), nullable=False),
    Column("installation_id", String(256), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("token", Text, nullable=True),
    Column("subscription", JSON, nullable=True),
    Column("contact_pk", BigId, ForeignKey("contacts.pk", ondelete="SET NULL"), nullable=True),
    Column("language", String(35), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("tags", JSON, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("advertising_id", String(64), nullable=True),
    Column("sandbox", Boolean, nullable=False, default=False),
    # Set when a provider says the token is gone, so the device is never targeted again.
    Column("invalidated_at", UtcDateTime(), nullable=True),
    Column("invalid_reason", String(64), nullable=True),
    Column("last_engaged_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("app_pk", "installation_id", name="uq_installations_app_pk_installation_id"),
    Index("ix_installations_token", "app_pk", "token"),
    Index("ix_installations_contact", "contact_pk"),
    Index("ix_installations_advertising_id", "app_pk", "advertising_id"),
)
