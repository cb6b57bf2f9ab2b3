"""The API docs pages load everything from this server, so they work offline."""

from __future__ import annotations

import re

import httpx


async def test_docs_pages_and_their_assets_are_served_locally(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        sources += re.findall(r"""(?:url|openapi_url): ?["']([^"']+)["']""", page.text)
        assert sources, path
        for source in sources:
            assert source.startswith("/"), f"{path} loads {source} from elsewhere"
            asset = await client.get(source)
            assert asset.status_code == 200, source
            assert len(asset.content) > 100, source
        policy = page.headers["Content-Security-Policy"]
        assert "http" not in policy, policy
