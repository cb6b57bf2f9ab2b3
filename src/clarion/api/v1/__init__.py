"""Routers of the native /v1 API."""
