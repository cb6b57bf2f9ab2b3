"""SDK-facing engagement events, authenticated with an app's public key."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, Field, StringConstraints

from clarion.api.auth import bearer_token, client_address
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import ApiError
from clarion.api.state import AppState, get_state
from clarion.api.v1.validators import StrictModel
from clarion.domain.safe_input import Int
from clarion.domain.vocabulary import ErrorCode
from clarion.store import events as event_store
from clarion.store.types import utcnow

router = APIRouter(tags=["events"], route_class=CheckedRoute)

APP_KEY_HEADER = "Clarion-App-Key"
#: How far an event's own time may lie ahead of the server clock, and how old it may be.
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_EVENT_AGE = timedelta(days=30)


class TokenBuckets:
    """Per-key token buckets: `burst` events at once, then `rate` per second."""

    def __init__(
        self,
        rate: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token; return 0 when allowed, else the seconds until a token is back."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            # Forgetting the least recently seen key only ever grants it a fresh burst.
            self._buckets.popitem(last=False)
        return wait


#: One device reports a handful of events per notification; an app's devices many more.
per_device = TokenBuckets(rate=2.0, burst=30)
per_app = TokenBuckets(rate=2000.0, burst=5000)


class EventIn(StrictModel):
    """One event an SDK reports about a notification."""

    installation_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    type: Literal["received", "opened", "clicked", "dismissed"]
    send_id: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    delivery_id: Annotated[Int, Field(ge=1, le=2**62)] | None = None
    at: AwareDatetime | None = Field(None, description="When it happened (default: now)")


def _app_key(request: Request) -> str:
    presented = request.headers.get(APP_KEY_HEADER) or bearer_token(request)
    if not presented:
        raise ApiError(
            401,
            ErrorCode.AUTHENTICATION_REQUIRED,
            f"send the app's public key as `{APP_KEY_HEADER}` or `Authorization: Bearer`",
        )
    return presented


def _check_rate(app_id: str, installation_id: str) -> None:
    wait = max(per_app.take(app_id), per_device.take(f"{app_id}\x00{installation_id}"))
    if wait > 0:
        raise ApiError(
            429,
            ErrorCode.RATE_LIMITED,
            f"too many events: retry in {math.ceil(wait)} s",
        )


def _event_time(at: datetime | None, now: datetime) -> datetime:
    if at is None:
        return now
    if at > now + MAX_CLOCK_SKEW:
        raise ApiError(400, ErrorCode.MALFORMED_PARAMETER, "at lies in the future", "at")
    if at < now - MAX_EVENT_AGE:
        raise ApiError(400, ErrorCode.MALFORMED_PARAMETER, "at is older than 30 days", "at")
    return at


@router.post("/v1/events", status_code=202)
async def post_event(
    body: EventIn, request: Request, state: AppState = Depends(get_state)
) -> dict[str, object]:
    """Record an event from an app's SDK; opened and clicked move the device's last engagement."""
    presented = _app_key(request)
    now = utcnow()
    occurred = _event_time(body.at, now)
    address = client_address(request)
    await state.auth_throttle.check(address, None)
    async with state.engine.begin() as conn:
        app = await event_store.app_by_public_key(conn, presented)
        if app is None:
            await state.auth_throttle.failed(address, None)
            raise ApiError(
                401,
                ErrorCode.AUTHENTICATION_INVALID,
                "not the public key of an app (secret keys are refused)",
            )
        _check_rate(str(app["id"]), body.installation_id)
        installation = await event_store.installation_pk(conn, app["pk"], body.installation_id)
        if installation is None:
            raise ApiError(
                404, ErrorCode.NOT_FOUND, "installation not found in this app", "installation_id"
            )
        send_id = body.send_id
        if body.delivery_id is not None:
            owner = await event_store.delivery_of_send(conn, body.delivery_id, app["project_id"])
            if owner is None or (send_id is not None and owner != send_id):
                raise ApiError(404, ErrorCode.NOT_FOUND, "delivery not found", "delivery_id")
            send_id = owner
        if send_id is not None and not await event_store.send_in_project(
            conn, send_id, app["project_id"]
        ):
            raise ApiError(404, ErrorCode.NOT_FOUND, "send not found", "send_id")
        event_id = await event_store.record_event(
            conn,
            project_id=app["project_id"],
            app_pk=app["pk"],
            installation=installation,
            event_type=body.type,
            send_id=send_id,
            delivery_id=body.delivery_id,
            occurred_at=occurred,
            received_at=now,
        )
    return {"id": event_id, "type": body.type, "send_id": send_id, "at": occurred.isoformat()}
