"""Imports every module that declares tables, so the metadata is complete."""

from __future__ import annotations

from clarion.store import tables

__all__ = ["tables"]
