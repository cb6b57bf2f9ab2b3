"""Every structured request field is typed in the published OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx


def _untyped(schema: dict[str, Any]) -> bool:
    """An object accepting anything: a blob the reader cannot learn the shape of."""
    options = schema.get("anyOf", [schema])
    return any(
        o.get("type") == "object" and "properties" not in o and "$ref" not in o for o in options
    ) or any(o.get("type") == "array" and _untyped(o.get("items", {})) for o in options)


async def test_request_bodies_have_no_untyped_objects(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    send = schemas["SendIn"]["properties"]
    for field in ("recipients", "audience", "schedule", "content", "options", "throttle"):
        refs = [o.get("$ref", "") for o in send[field]["anyOf"]]
        assert any(r.startswith("#/components/schemas/") for r in refs), field
    assert send["contents"]["anyOf"][0]["items"]["$ref"].endswith("/LocalizedContent")
    # Free-form by design: template parameters, custom attributes, a Google-made file.
    free_form = {
        ("SendIn", "params"),
        ("PreviewIn", "params"),
        ("FcmIn", "service_account"),
        ("ContactIn", "attributes"),
        ("InstallationIn", "attributes"),
    }
    requests = {
        body["content"]["application/json"]["schema"].get("$ref", "").rsplit("/", 1)[-1]
        for path in spec["paths"].values()
        for operation in path.values()
        if (body := operation.get("requestBody")) and "application/json" in body["content"]
    }
    for name in sorted(requests - {""}):
        for field, schema in schemas[name].get("properties", {}).items():
            if (name, field) not in free_form:
                assert not _untyped(schema), f"{name}.{field} is an untyped object"
    for name in ("Content", "Options", "Recipients", "Audience"):
        assert "model_validate" not in schemas[name].get("description", "")
        assert schemas[name]["properties"], name
