"""Fault rules shared by all emulators: fixed outcomes, error rates, latency, resets."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class FaultRuleError(ValueError):
    """A fault rule that cannot be applied (unknown reason, bad rate, wrong type)."""


@dataclass(frozen=True)
class Outcome:
    """A forced answer: HTTP status, provider reason and optional Retry-After seconds."""

    status: int
    reason: str
    retry_after: int | None = None
    timestamp_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "status": self.status,
            "reason": self.reason,
            "retry_after": self.retry_after,
            "timestamp_ms": self.timestamp_ms,
        }


@dataclass
class RateFault:
    """Answer a share of requests with `outcome`, for at most `remaining` requests if set."""

    rate: float
    outcome: Outcome
    remaining: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"rate": self.rate, "remaining": self.remaining, **self.outcome.to_json()}


@dataclass
class ResetFault:
    """Drop the connection for a share of requests, for at most `remaining` if set."""

    rate: float
    remaining: int | None = None


def _check_rate(rate: float) -> float:
    if not 0.0 <= rate <= 1.0:
        raise FaultRuleError(f"rate must be between 0 and 1, got {rate}")
    return rate


def _field(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = doc.get(name, default)
    if value is not default and (isinstance(value, bool) or not isinstance(value, kind)):
        raise FaultRuleError(f"{name!r} has the wrong type")
    return value


class FaultRules:
    """The fault rules of one emulator; `status_for_reason` gives a reason's usual status."""

    def __init__(self, status_for_reason: Callable[[str], int | None], seed: int | None = None):
        self._status_for_reason = status_for_reason
        self._random = random.Random(seed)
        self.targets: dict[str, Outcome] = {}
        self.rates: list[RateFault] = []
        self.reset: ResetFault | None = None
        self.latency: float = 0.0
        self.goaway_after_streams: int | None = None

    def outcome(
        self,
        reason: str,
        status: int | None = None,
        retry_after: int | None = None,
        timestamp_ms: int | None = None,
    ) -> Outcome:
        """Build an outcome, taking the usual status of `reason` when none is given."""
        resolved = status if status is not None else self._status_for_reason(reason)
        if resolved is None:
            raise FaultRuleError(f"unknown reason {reason!r}: give a status too")
        if not 400 <= resolved <= 599:
            raise FaultRuleError(f"status must be 4xx or 5xx, got {resolved}")
        return Outcome(resolved, reason, retry_after, timestamp_ms)

    def set_outcome(
        self,
        target: str,
        reason: str,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> Outcome:
        """Always answer requests for `target` (token, subscription, number) with `reason`."""
        stamp = int(time.time() * 1000)
        outcome = self.outcome(reason, status, retry_after, stamp)
        self.targets[target] = outcome
        return outcome

    def clear_outcome(self, target: str) -> None:
        """Stop forcing an outcome for `target`."""
        self.targets.pop(target, None)

    def add_error_rate(
        self,
        rate: float,
        reason: str,
        status: int | None = None,
        retry_after: int | None = None,
        count: int | None = None,
    ) -> RateFault:
        """Answer a share `rate` of requests with `reason` (only the next `count` if given)."""
        fault = RateFault(_check_rate(rate), self.outcome(reason, status, retry_after), count)
        self.rates.append(fault)
        return fault

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by `seconds`."""
        if seconds < 0:
            raise FaultRuleError("latency cannot be negative")
        self.latency = seconds

    def set_reset_rate(self, rate: float, count: int | None = None) -> None:
        """Drop the connection for a share `rate` of requests (only the next `count` if given)."""
        self.reset = ResetFault(_check_rate(rate), count)

    def set_goaway_after(self, streams: int | None) -> None:
        """Send GOAWAY once a connection has carried `streams` requests (HTTP/2 only)."""
        if streams is not None and streams < 1:
            raise FaultRuleError("goaway_after_streams must be at least 1")
        self.goaway_after_streams = streams

    def clear(self) -> None:
        """Remove every rule."""
        self.targets.clear()
        self.rates.clear()
        self.reset = None
        self.latency = 0.0
        self.goaway_after_streams = None

    def pick_outcome(self, target: str) -> Outcome | None:
        """The forced outcome for this request, if any rule fires."""
        fixed = self.targets.get(target)
        if fixed is not None:
            return fixed
        for fault in self.rates:
            if fault.remaining == 0:
                continue
            if fault.rate >= 1.0 or self._random.random() < fault.rate:
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault.outcome
        return None

    def pick_reset(self) -> bool:
        """Whether this request's connection should be dropped."""
        reset = self.reset
        if reset is None or reset.remaining == 0:
            return False
        if reset.rate >= 1.0 or self._random.random() < reset.rate:
            if reset.remaining is not None:
                reset.remaining -= 1
            return True
        return False

    def to_json(self) -> dict[str, Any]:
        """The rules as the control API shows them."""
        return {
            "targets": {target: o.to_json() for target, o in self.targets.items()},
            "error_rates": [fault.to_json() for fault in self.rates],
            "reset": None
            if self.reset is None
            else {"rate": self.reset.rate, "remaining": self.reset.remaining},
            "latency_ms": round(self.latency * 1000),
            "goaway_after_streams": self.goaway_after_streams,
        }

    def apply_json(self, doc: Any) -> None:
        """Add the rules of a control API document (see docs/emulators.md); validates first."""
        if not isinstance(doc, dict):
            raise FaultRuleError("the body must be a JSON object")
        unknown = set(doc) - {
            "targets",
            "error_rate",
            "reset",
            "latency_ms",
            "goaway_after_streams",
        }
        if unknown:
            raise FaultRuleError(f"unknown fields: {sorted(unknown)}")
        staged = FaultRules(self._status_for_reason)
        targets = _field(doc, "targets", dict, {})
        for target, rule in targets.items():
            if not isinstance(rule, dict):
                raise FaultRuleError(f"targets[{target!r}] must be an object")
            staged.set_outcome(target, *self._outcome_args(rule))
        rates = _field(doc, "error_rate", (dict, list), [])
        for rule in rates if isinstance(rates, list) else [rates]:
            if not isinstance(rule, dict):
                raise FaultRuleError("error_rate entries must be objects")
            rate = _field(rule, "rate", (int, float), 1.0)
            count = _field(rule, "count", int, None)
            staged.add_error_rate(float(rate), *self._outcome_args(rule), count=count)
        reset = _field(doc, "reset", dict, None)
        if reset is not None:
            rate = _field(reset, "rate", (int, float), 1.0)
            staged.set_reset_rate(float(rate), _field(reset, "count", int, None))
        latency_ms = _field(doc, "latency_ms", (int, float), None)
        if latency_ms is not None:
            staged.set_latency(latency_ms / 1000)
        goaway = _field(doc, "goaway_after_streams", int, None)
        if goaway is not None:
            staged.set_goaway_after(goaway)
        self.targets.update(staged.targets)
        self.rates.extend(staged.rates)
        if reset is not None:
            self.reset = staged.reset
        if latency_ms is not None:
            self.latency = staged.latency
        if goaway is not None:
            self.goaway_after_streams = staged.goaway_after_streams

    @staticmethod
    def _outcome_args(rule: Mapping[str, Any]) -> tuple[str, int | None, int | None]:
        reason = _field(rule, "reason", str, None)
        if reason is None:
            raise FaultRuleError("each rule needs a 'reason'")
        return reason, _field(rule, "status", int, None), _field(rule, "retry_after", int, None)
