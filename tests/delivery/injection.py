"""Fault injection into running delivery: exceptions at chosen points for chosen devices.

Each point is where something outside delivery's control can raise for one device:
the renderer (`render`), a provider client before its request leaves (`before_send`) or
after the provider accepted it (`after_send`), and the construction of a provider client
(`client`, for every device of that provider). `transient` makes the emulator answer one
request for the device with a 503 first, so the device is retried in a later job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from clarion.delivery import dispatcher
from clarion.delivery.clients import ProviderClients
from clarion.delivery.rendering import render_for_device
from clarion.domain.limits import BuiltPayload
from clarion.providers.apns import ApnsClient
from clarion.providers.fcm import FcmClient
from clarion.providers.transport import Address
from clarion.providers.webpush import WebPushClient
from tests.delivery_env import DeliveryEnv

POINTS = ("none", "render", "before_send", "after_send", "transient", "transient_then_raise")


class InjectedFault(RuntimeError):
    """The exception injected: its class name is what the recorded reason starts with."""


@dataclass
class Injector:
    """Which device fails where; installed once per test, reset between examples."""

    env: DeliveryEnv
    render: set[str] = field(default_factory=set)
    send: dict[str, str] = field(default_factory=dict)
    transient: set[str] = field(default_factory=set)
    broken_providers: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)

    def reset(self) -> None:
        """Forget every fault."""
        self.render.clear()
        self.send.clear()
        self.transient.clear()
        self.broken_providers.clear()
        self.seen.clear()

    def assign(self, platform: str, installation_id: str, target: str, point: str) -> None:
        """Make `point` fail for the device (`target` is its token or web push endpoint)."""
        if point == "render":
            self.render.add(installation_id)
        elif point in ("before_send", "after_send"):
            self.send[target] = point
        elif point in ("transient", "transient_then_raise"):
            self.transient.add(target)
            if point == "transient_then_raise":
                self.send[target] = "retry_before_send"

    def _emulator_fault(self, target: str) -> tuple[Any, str, str]:
        emulators = self.env.emulators
        if target.startswith("https://"):
            return emulators.webpush.faults, emulators.webpush.subscription_id(target), "Busy"
        if target.startswith("fcm-"):
            return emulators.fcm.faults, target, "UNAVAILABLE"
        return emulators.apns.faults, target, "ServiceUnavailable"

    async def around_batch(
        self, targets: list[str], call: Callable[[list[int]], Awaitable[list[Any]]]
    ) -> list[Any]:
        """Run one batch of provider requests, each device with its faults."""
        answers: list[Any] = [None] * len(targets)
        sent: list[int] = []
        cleared: list[tuple[Any, str]] = []
        for index, target in enumerate(targets):
            point = self.send.get(target)
            first = target not in self.seen
            self.seen.add(target)
            if point == "before_send" or (point == "retry_before_send" and not first):
                answers[index] = InjectedFault(f"before sending to {target[-12:]}")
                continue
            if target in self.transient and first:
                faults, name, reason = self._emulator_fault(target)
                faults.set_outcome(name, reason, status=503)
                cleared.append((faults, name))
            sent.append(index)
        try:
            results = await call(sent)
        finally:
            for faults, name in cleared:
                faults.clear_outcome(name)
        for index, result in zip(sent, results, strict=True):
            if self.send.get(targets[index]) == "after_send":
                result = InjectedFault(f"after sending to {targets[index][-12:]}")
            answers[index] = result
        return answers

    async def around_send(self, target: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run one provider request for `target` with its faults."""
        point = self.send.get(target)
        first = target not in self.seen
        self.seen.add(target)
        if point == "before_send" or (point == "retry_before_send" and not first):
            raise InjectedFault(f"before sending to {target[-12:]}")
        if target in self.transient and first:
            faults, name, reason = self._emulator_fault(target)
            faults.set_outcome(name, reason, status=503)
            try:
                return await call()
            finally:
                faults.clear_outcome(name)
        result = await call()
        if point == "after_send":
            raise InjectedFault(f"after sending to {target[-12:]}")
        return result


def install(monkeypatch: pytest.MonkeyPatch, env: DeliveryEnv) -> Injector:
    """Wrap the renderer, the provider clients and the client factory with an Injector."""
    injector = Injector(env)
    render = render_for_device

    def faulty_render(command: Any, compiled: Any, device: Any, *args: Any, **kwargs: Any) -> Any:
        if device.installation_id in injector.render:
            raise InjectedFault(f"rendering for {device.installation_id}")
        return render(command, compiled, device, *args, **kwargs)

    monkeypatch.setattr(dispatcher, "render_for_device", faulty_render)

    # Provider clients are reached through `deliver`, or `deliver_many` for a batch
    # (which FCM and Web Push answer with `deliver` per device).
    for client_class in (ApnsClient, FcmClient, WebPushClient):
        monkeypatch.setattr(client_class, "deliver", _faulty_deliver(injector, client_class))
    monkeypatch.setattr(ApnsClient, "deliver_many", _faulty_deliver_many(injector, ApnsClient))

    get_client = ProviderClients.get

    async def get(self: ProviderClients, app_pk: int, provider: str, sandbox: bool = False) -> Any:
        if provider in injector.broken_providers:
            raise InjectedFault(f"building the {provider} client")
        return await get_client(self, app_pk, provider, sandbox)

    monkeypatch.setattr(ProviderClients, "get", get)
    return injector


def received(env: DeliveryEnv, platform: str, target: str) -> int:
    """How many notifications the emulator accepted for a device."""
    if platform == "ios":
        return len([d for d in env.emulators.apns.deliveries if d.target == target])
    if platform == "android":
        return len([d for d in env.emulators.fcm.deliveries if d.target == target])
    return len(env.emulators.webpush.deliveries_for(target))


def _faulty_deliver(injector: Injector, client_class: type[Any]) -> Any:
    deliver = client_class.deliver

    async def faulty(self: Any, address: Address, payload: BuiltPayload) -> Any:
        # A device is named by its token, or its web push endpoint.
        if address.token is not None:
            name = address.token
        else:
            name = str((address.subscription or {}).get("endpoint"))
        return await injector.around_send(name, lambda: deliver(self, address, payload))

    return faulty


def _faulty_deliver_many(injector: Injector, client_class: type[Any]) -> Any:
    deliver_many = client_class.deliver_many

    async def faulty(self: Any, items: list[tuple[Address, BuiltPayload]]) -> Any:
        targets = [str(address.token) for address, _ in items]
        return await injector.around_batch(
            targets, lambda sent: deliver_many(self, [items[i] for i in sent])
        )

    return faulty
