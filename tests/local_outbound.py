"""The outbound allowlist of tests whose providers, media and subscriptions are local servers."""

from __future__ import annotations

from typing import Final

from clarion.providers.outbound import OutboundPolicy

#: Opens the loopback interface, where every test server listens.
LOCAL_ALLOWLIST: Final = "127.0.0.0/8,::1"
LOCAL_OUTBOUND: Final = OutboundPolicy.parse(LOCAL_ALLOWLIST)
