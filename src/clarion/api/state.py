"""Process-wide objects shared by the routes: settings, engine, secret box."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.api.auth_throttle import FailedAuthThrottle
from clarion.api.ratelimit import KeyRateLimiter
from clarion.config import Settings
from clarion.delivery.observe import ProviderHealth
from clarion.queue.sql import SqlJobQueue
from clarion.store.secret_check import SecretHealth
from clarion.store.secrets import SecretBox


@dataclass
class AppState:
    """What a running API process holds."""

    settings: Settings
    engine: AsyncEngine
    secrets: SecretBox
    queue: SqlJobQueue
    rate_limiter: KeyRateLimiter = field(default_factory=lambda: KeyRateLimiter(""))
    auth_throttle: FailedAuthThrottle = field(default_factory=lambda: FailedAuthThrottle(""))
    secret_health: SecretHealth | None = None
    # Filled by the in-process delivery workers; None in an API-only process.
    provider_health: ProviderHealth | None = None


def state_from(request: Request) -> AppState:
    """The process state of a request's app."""
    state: AppState = request.app.state.clarion
    return state


async def get_state(request: Request) -> AppState:
    """FastAPI dependency returning the process state.

    A coroutine on purpose: FastAPI runs plain-function dependencies in a thread pool,
    a thread hop per request for a dictionary lookup.
    """
    return state_from(request)
