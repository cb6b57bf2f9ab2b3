"""Imports every module that declares tables, so the metadata is complete."""

from __future__ import annotations

from clarion.store import caps as caps
from clarion.store import events as events
from clarion.store import inbox as inbox
from clarion.store import job_tables as job_tables
from clarion.store import lists, segments, send_tables, tables  # noqa: F401  (broadcast tables)
from clarion.store import sfmc_messages as sfmc_messages
from clarion.store import templates as templates
from clarion.store import write_probe as write_probe

__all__ = ["job_tables", "send_tables", "tables"]
