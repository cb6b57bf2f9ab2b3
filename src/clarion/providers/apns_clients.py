"""One long-lived APNs client per (team, signing key, endpoint), shared by every sender."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

from clarion.providers.apns import ApnsClient
from clarion.providers.outbound import STRICT, OutboundPolicy


class ApnsClients:
    """Keeps pooled connections alive across sends; replaces a client when its key changes."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: Path | str | None = None,
        max_connections: int = 4,
        request_timeout: float = 10.0,
        outbound: OutboundPolicy = STRICT,
    ) -> None:
        self._outbound = outbound
        self._ssl_context = ssl_context
        self._ca_file = ca_file
        self._max_connections = max_connections
        self._request_timeout = request_timeout
        self._clients: dict[tuple[str, str], tuple[str, ApnsClient]] = {}

    async def get(
        self, team_id: str, key_id: str, private_key_pem: str, endpoint: str
    ) -> ApnsClient:
        """The client for this team and endpoint, created on first use."""
        fingerprint = hashlib.sha256(f"{key_id}\n{private_key_pem}".encode()).hexdigest()
        slot = (team_id, endpoint)
        current = self._clients.get(slot)
        if current is not None and current[0] == fingerprint:
            return current[1]
        client = ApnsClient(
            team_id,
            key_id,
            private_key_pem,
            endpoint,
            ssl_context=self._ssl_context,
            ca_file=self._ca_file,
            max_connections=self._max_connections,
            request_timeout=self._request_timeout,
            outbound=self._outbound,
        )
        self._clients[slot] = (fingerprint, client)
        if current is not None:
            # A rotated key: the old connections carry tokens Apple will soon refuse.
            await current[1].close()
        return client

    async def close(self) -> None:
        """Close every client."""
        clients, self._clients = self._clients, {}
        for _, client in clients.values():
            await client.close()
