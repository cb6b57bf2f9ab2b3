"""Fixtures: a running emulator suite with its CA in a per-run state directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clarion.emulators.suite import EmulatorSuite
from tests.emulators.support import PROJECT, assertion, fetch_token, https_client


@pytest.fixture(scope="session")
def emulator_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state directory (CA and server certificate) shared by every test."""
    return tmp_path_factory.mktemp("emulator-state")


@pytest.fixture
async def emulators(emulator_state_dir: Path) -> AsyncIterator[EmulatorSuite]:
    """All four emulators on ephemeral ports, seeded so rate faults repeat."""
    async with EmulatorSuite(emulator_state_dir, seed=7) as suite:
        yield suite


@pytest.fixture
async def fcm_access_token(emulators: EmulatorSuite) -> str:
    """A valid access token for PROJECT."""
    account = emulators.fcm.create_service_account(PROJECT)
    async with https_client(emulators) as http:
        status, body = await fetch_token(http, account, assertion(account))
    assert status == 200
    token: str = body["access_token"]
    return token
