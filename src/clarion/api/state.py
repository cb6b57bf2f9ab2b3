"""Process-wide objects shared by the routes: settings, engine, secret box."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.config import Settings
from clarion.queue.sql import SqlJobQueue
from clarion.store.secrets import SecretBox


@dataclass
class AppState:
    """What a running API process holds."""

    settings: Settings
    engine: AsyncEngine
    secrets: SecretBox
    queue: SqlJobQueue


def get_state(request: Request) -> AppState:
    """FastAPI dependency returning the process state."""
    state: AppState = request.app.state.clarion
    return state
