"""The answers the README shows are the server's: same keys at every level, same kinds."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.delivery_env import DeliveryEnv
from tests.ops.markdown import ROOT

_ANSWER = re.compile(r"<!-- answer: (.+?) -->\n```json\n(.*?)```", re.DOTALL)


def documented() -> dict[str, Any]:
    """The README's example answers, by the request they answer."""
    text = (ROOT / "README.md").read_text()
    return {name: json.loads(body) for name, body in _ANSWER.findall(text)}


def same_shape(doc: Any, real: Any, path: str = "$") -> list[str]:
    """Where `doc` and `real` differ in keys or in the kind of value."""
    if doc is None or real is None:
        return []
    if isinstance(doc, dict) and isinstance(real, dict):
        problems = [f"{path}: documented, not answered: {k}" for k in doc.keys() - real.keys()]
        problems += [f"{path}: answered, not documented: {k}" for k in real.keys() - doc.keys()]
        for key in doc.keys() & real.keys():
            problems += same_shape(doc[key], real[key], f"{path}.{key}")
        return problems
    if isinstance(doc, list) and isinstance(real, list):
        return same_shape(doc[0], real[0], f"{path}[0]") if doc and real else []
    if type(doc) is not type(real):
        return [f"{path}: documented {type(doc).__name__}, answered {type(real).__name__}"]
    return []


def test_the_comparison_sees_a_missing_or_extra_key() -> None:
    assert same_shape({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}}) == []
    assert same_shape({"a": 1}, {"a": 1, "b": 2}) == ["$: answered, not documented: b"]
    assert same_shape({"a": {"c": 1}}, {"a": {}}) == ["$.a: documented, not answered: c"]
    assert same_shape({"a": "x"}, {"a": 1}) == ["$.a: documented str, answered int"]


async def test_readme_answers_match_real_answers(env: DeliveryEnv) -> None:
    examples = documented()
    assert len(examples) >= 4, examples.keys()
    await env.ios("iphone-1")
    body = {"recipients": {"installation_ids": ["iphone-1"]}, "content": {"body": "hi"}}
    accepted = await env.http.post("/v1/sends", json=body, headers=env.headers)
    assert accepted.status_code == 201
    send_id = accepted.json()["id"]
    done = await env.wait_done(send_id)
    trail = await env.http.get(f"/v1/sends/{send_id}/deliveries", headers=env.headers)
    missing = await env.http.post(
        "/v1/sends", json={"recipients": {"installation_ids": ["iphone-1"]}}, headers=env.headers
    )
    real = {
        "POST /v1/sends": accepted.json(),
        "GET /v1/sends/{id}": done,
        "GET /v1/sends/{id}/deliveries": trail.json(),
        "POST /v1/sends (missing content)": missing.json(),
    }
    for name, answer in real.items():
        assert same_shape(examples[name], answer) == [], (name, answer)
    error = examples["POST /v1/sends (missing content)"]["error"]
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == error["code"]
    assert missing.json()["error"]["field"] == error["field"]
