"""Durable store: SQLAlchemy Core tables, queries and migrations."""
