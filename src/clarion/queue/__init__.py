"""Durable job queue with leases on SQLite and PostgreSQL."""
