"""Imports every module that declares tables, so the metadata is complete."""

from __future__ import annotations

from clarion.queue import schema as queue_schema
from clarion.store import send_tables, tables
from clarion.store import sfmc_messages as sfmc_messages
from clarion.store import templates as templates

__all__ = ["queue_schema", "send_tables", "tables"]
