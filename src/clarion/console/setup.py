"""What the console is started with: one-time sign-in links and the demo's emulators."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request


@dataclass
class ConsoleSetup:
    """Process-wide console state; `emulators` is the running suite under `--demo`."""

    emulators: Any = None
    _links: dict[str, str] = field(default_factory=dict)

    def sign_in_link(self, key: str) -> str:
        """A path that signs the browser in with `key` once."""
        token = secrets.token_urlsafe(32)
        self._links[token] = key
        return f"/signin/link/{token}"

    def redeem(self, token: str) -> str | None:
        """The key of a one-time link, which stops working."""
        return self._links.pop(token, None)


def setup_of(request: Request) -> ConsoleSetup:
    """The console setup of the running application."""
    setup: ConsoleSetup = request.app.state.console
    return setup
