"""Verified API keys are trusted for a few seconds, and forgotten at once on revocation here."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from clarion.store import keys
from clarion.store.keys import StoredKey, cached_key, forget_keys, remember_key
from tests.conftest import Project

KEY = StoredKey("k1", "p1", frozenset({"send"}), None)


async def test_a_verified_key_is_trusted_only_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "KEY_CACHE_SECONDS", 0.05)
    remember_key("clk_k1_secret", KEY)
    assert cached_key("clk_k1_secret") == KEY
    assert cached_key("clk_k1_other") is None, "only the very plaintext verified is trusted"
    await asyncio.sleep(0.1)
    assert cached_key("clk_k1_secret") is None


def test_forgetting_drops_every_key() -> None:
    remember_key("clk_k1_secret", KEY)
    forget_keys()
    assert cached_key("clk_k1_secret") is None


async def test_a_used_key_is_remembered_until_revoked(
    client: httpx.AsyncClient, project: Project
) -> None:
    created = (
        await client.post("/v1/keys", json={"scopes": ["read"]}, headers=project.headers)
    ).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/v1/apps", headers=headers)).status_code == 200
    assert cached_key(created["key"]) is not None
    await client.delete(f"/v1/keys/{created['id']}", headers=project.headers)
    assert cached_key(created["key"]) is None
    assert (await client.get("/v1/apps", headers=headers)).status_code == 401
