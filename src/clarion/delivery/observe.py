"""What a delivery batch tells an operator: metrics, provider failure log lines, provider health.

Everything here runs once per batch on results already in memory: counters are summed
per label set before being incremented, and nothing reads the database per device.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion.delivery.outcomes import DeviceResult
from clarion.domain.vocabulary import DeliveryOutcome, provider_of
from clarion.store.tables import apps

log = logging.getLogger("clarion.providers.failures")

DELIVERIES = Counter(
    "clarion_deliveries_total",
    "Delivery attempts by provider, app and outcome (`retry`: to be tried again)",
    ["provider", "app", "outcome"],
)
PROVIDER_SECONDS = Histogram(
    "clarion_provider_request_seconds",
    "Time a provider took to answer one notification, connection set-up included "
    "(up to 32 evenly sampled per delivery batch)",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PROVIDER_ERRORS = Counter(
    "clarion_provider_errors_total",
    "Provider calls that failed below HTTP (connection, TLS, timeout) or with a server error",
    ["provider", "reason"],
)
TOKENS_INVALIDATED = Counter(
    "clarion_tokens_invalidated_total",
    "Installations whose token the provider declared invalid (they are not sent to again)",
    ["provider", "app"],
)
PROVIDER_FAILING = Gauge(
    "clarion_provider_failing",
    "1 while every recent attempt of an app's provider failed (see /readyz)",
    ["provider", "app"],
)

#: Provider answer times observed per batch, app and provider (an even sample).
LATENCY_SAMPLES = 32
#: Seconds between two log lines about the same failure (app, provider, kind).
LOG_EVERY = 60.0
#: Consecutive failed attempts, with no success, after which an app's provider is failing.
FAILING_AFTER = 5
#: A failing provider not tried for this long is no longer reported.
FAILING_FOR = 300.0

# Ordered: the first fragment found in a failure's reason names its kind.
_KINDS: tuple[tuple[str, str], ...] = (
    ("CERTIFICATE_VERIFY_FAILED", "tls_certificate"),
    ("CertificateError", "tls_certificate"),
    ("certificate", "tls_certificate"),
    ("SSL", "tls"),
    ("TLS", "tls"),
    ("queue_timeout", "timeout"),
    ("timeout", "timeout"),
    ("Timeout", "timeout"),
    ("Refused", "connection_refused"),
    ("refused", "connection_refused"),
    ("Reset", "connection_reset"),
    ("reset", "connection_reset"),
    ("gaierror", "dns"),
    ("Name or service not known", "dns"),
    ("GoAway", "protocol"),
    ("Protocol", "protocol"),
    ("MissingCredentials", "missing_credentials"),
    ("UnreadableCredentials", "unreadable_credentials"),
    ("OutboundRefused", "outbound_refused"),
)


def failure_kind(status: int | None, reason: str | None) -> str:
    """A bounded label for why a provider call failed, from its status and reason text."""
    text = reason or ""
    for fragment, kind in _KINDS:
        if fragment in text:
            return kind
    if status is not None:
        if status == 429:
            return "rate_limited"
        if status in (401, 403):
            return "auth"
        if status >= 500:
            return "server_error"
        return "http_error"
    return "connection" if text else "unknown"


def _is_failure(result: DeviceResult) -> bool:
    """A provider-side failure: retried, or ended in error (bad tokens are the provider working).

    Only attempts that reached the provider, or could not for want of credentials: a
    message that fails to render is the send's fault, not the provider's.
    """
    if result.outcome not in (DeliveryOutcome.PENDING, DeliveryOutcome.ERROR):
        return False
    return "provider_seconds" in result.extra or "Credentials" in (result.reason or "")


@dataclass
class _Health:
    failures: int = 0
    last_failure: float = 0.0
    last_reason: str = ""
    last_send: str = ""


@dataclass
class ProviderHealth:
    """Per (app, provider): how many attempts failed in a row since the last success."""

    failing_after: int = FAILING_AFTER
    failing_for: float = FAILING_FOR
    _state: dict[tuple[str, str], _Health] = field(default_factory=dict)

    def record(
        self, app: str, provider: str, failed: int, succeeded: int, reason: str, send: str
    ) -> None:
        """Count one batch's attempts of an app's provider."""
        key = (app, provider)
        if succeeded:
            if key in self._state:
                del self._state[key]
                PROVIDER_FAILING.labels(provider, app).set(0)
            return
        health = self._state.setdefault(key, _Health())
        health.failures += failed
        health.last_failure = time.monotonic()
        health.last_reason, health.last_send = reason, send
        if health.failures >= self.failing_after:
            PROVIDER_FAILING.labels(provider, app).set(1)

    def failing(self) -> list[dict[str, Any]]:
        """The app providers whose recent attempts all failed, for /readyz."""
        now = time.monotonic()
        found = []
        for (app, provider), health in list(self._state.items()):
            if now - health.last_failure > self.failing_for:
                del self._state[(app, provider)]
                PROVIDER_FAILING.labels(provider, app).set(0)
                continue
            if health.failures >= self.failing_after:
                found.append(
                    {
                        "app": app,
                        "provider": provider,
                        "failed_attempts": health.failures,
                        "last_reason": health.last_reason,
                        "last_send": health.last_send,
                    }
                )
        return found

    def clear(self) -> None:
        """Forget every recorded failure."""
        self._state.clear()


@dataclass
class FailureLog:
    """One WARNING per distinct failure (app, provider, kind) per `every` seconds."""

    every: float = LOG_EVERY
    _last: dict[tuple[str, str, str], float] = field(default_factory=dict)
    _held: Tally[tuple[str, str, str]] = field(default_factory=Tally)

    def note(self, app: str, provider: str, kind: str, result: DeviceResult, send: str) -> None:
        """Log this failure unless one like it was logged less than `every` seconds ago."""
        key = (app, provider, kind)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            self._held[key] += 1
            return
        self._last[key] = now
        held = self._held.pop(key, 0)
        log.warning(
            "provider failure: provider=%s app=%s send=%s delivery=%s kind=%s status=%s "
            "reason=%r suppressed_since_last=%d",
            provider,
            app,
            send,
            result.delivery_id,
            kind,
            result.status if result.status is not None else "-",
            result.reason or "",
            held,
            extra={
                "provider": provider,
                "app": app,
                "send_id": send,
                "failure_kind": kind,
            },
        )


class AppNames:
    """App ids by internal key, read once per app: ids never change."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    async def resolve(self, engine: AsyncEngine, pks: Iterable[int]) -> dict[int, str]:
        """The ids of `pks`, reading only those not seen before."""
        missing = {pk for pk in pks if pk not in self._names}
        if missing:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    select(apps.c.pk, apps.c.id).where(apps.c.pk.in_(missing))
                )
                self._names.update({int(row.pk): str(row.id) for row in rows})
        return self._names


class BatchObserver:
    """Metrics, failure log lines and provider health of the batches one dispatcher delivers."""

    def __init__(self) -> None:
        self.health = ProviderHealth()
        self.failures = FailureLog()
        self.names = AppNames()
        # Labelled children by label values: `labels()` takes a lock and costs more than
        # the increment itself.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            self._children[key] = child = metric.labels(*labels)
        return child

    async def record(
        self,
        engine: AsyncEngine,
        send_id: str,
        rows: Sequence[Any],
        results: Sequence[DeviceResult],
    ) -> None:
        """Observe one batch (`results[i]` is `rows[i]`'s); never fails the batch."""
        if not rows:
            return
        try:
            pks = {int(row.app_pk) for row in rows if row.app_pk is not None}
            known = await self.names.resolve(engine, pks)
            self._count(known, send_id, rows, results)
        except Exception:
            log.warning("observing a batch of send %s failed", send_id, exc_info=True)

    async def record_sends(
        self,
        engine: AsyncEngine,
        batches: Sequence[tuple[str, Sequence[Any], Sequence[DeviceResult]]],
    ) -> None:
        """Observe the batches of several sends delivered together: (send id, rows, results)."""
        try:
            pks = {
                int(row.app_pk) for _, rows, _ in batches for row in rows if row.app_pk is not None
            }
            known = await self.names.resolve(engine, pks)
        except Exception:
            log.warning("observing the batches of %d sends failed", len(batches), exc_info=True)
            return
        for send_id, rows, results in batches:
            try:
                self._count(known, send_id, rows, results)
            except Exception:
                log.warning("observing a batch of send %s failed", send_id, exc_info=True)

    def _count(
        self,
        known: dict[int, str],
        send_id: str,
        rows: Sequence[Any],
        results: Sequence[DeviceResult],
    ) -> None:
        # Grouped first, so that label lookups happen once per app and provider, not per device.
        groups: dict[tuple[Any, Any], list[DeviceResult]] = {}
        for row, result in zip(rows, results, strict=False):
            key = (row.app_pk, row.platform)
            group = groups.get(key)
            if group is None:
                groups[key] = group = []
            group.append(result)
        for (app_pk, platform), group in groups.items():
            provider = provider_of(platform) or str(platform)
            app = known.get(int(app_pk), str(app_pk)) if app_pk is not None else "-"
            self._count_group(provider, app, send_id, group)

    def _count_group(
        self, provider: str, app: str, send_id: str, group: list[DeviceResult]
    ) -> None:
        tally = Tally(result.outcome for result in group)
        for outcome, count in tally.items():
            label = "retry" if outcome == DeliveryOutcome.PENDING else str(outcome)
            self._child(DELIVERIES, provider, app, label).inc(count)
        observe = self._child(PROVIDER_SECONDS, provider).observe
        # An even sample of the batch: each observation costs about as much as all the
        # counting above, and a few dozen per batch already give the distribution.
        for result in group[:: -(-len(group) // LATENCY_SAMPLES)]:
            seconds = result.extra.get("provider_seconds")
            if seconds is not None:
                observe(seconds)
        if DeliveryOutcome.UNDELIVERABLE in tally:
            invalidated = sum(1 for result in group if result.invalidate_pk is not None)
            if invalidated:
                self._child(TOKENS_INVALIDATED, provider, app).inc(invalidated)
        succeeded = tally[DeliveryOutcome.SENT] + tally[DeliveryOutcome.UNDELIVERABLE]
        failed, reason = 0, ""
        if DeliveryOutcome.PENDING in tally or DeliveryOutcome.ERROR in tally:
            errors: Tally[str] = Tally()
            for result in group:
                if not _is_failure(result):
                    continue
                failed += 1
                kind = failure_kind(result.status, result.reason)
                if result.status is None or result.status >= 500:
                    errors[kind] += 1
                reason = result.reason or kind
                self.failures.note(app, provider, kind, result, send_id)
            for kind, count in errors.items():
                self._child(PROVIDER_ERRORS, provider, kind).inc(count)
        if failed or succeeded:
            self.health.record(app, provider, failed, succeeded, reason, send_id)
