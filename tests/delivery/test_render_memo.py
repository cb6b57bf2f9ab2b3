"""A batch builds a request once when nothing in it is per device, and per device otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from clarion.delivery.rendering import Rendered, RenderMemo, compile_command, render_for_device
from clarion.domain.command import SendCommand
from clarion.domain.device import Device

PUBLIC = {"topic": "com.example.app"}
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Batch:
    """One send's compiled contents and the memo of one batch of it."""

    def __init__(self, message: dict[str, Any]) -> None:
        self.send = SendCommand.from_document(
            {
                "recipients": {"installation_ids": ["a", "b"]},
                "message": message,
                "apps": None,
                "params": {},
                "current": {},
                "language": None,
                "engagement": {},
            }
        )
        self.compiled = compile_command(self.send)
        self.memo = RenderMemo(self.compiled)

    def render(
        self, installation_id: str, language: str | None = None, **attributes: Any
    ) -> Rendered:
        device = Device(
            "ios",
            installation_id,
            token=installation_id * 32,
            language=language,
            attributes=attributes,
        )
        return render_for_device(
            self.send, self.compiled, device, PUBLIC, send_id="s1", now=NOW, memo=self.memo
        )


def title(rendered: Rendered) -> str:
    return str(json.loads(rendered.payload.body)["aps"]["alert"]["title"])


def test_plain_content_is_built_once_per_language() -> None:
    batch = Batch(
        {
            "contents": [
                {"title": "Hello", "body": "x"},
                {"language": "fr", "title": "Bonjour", "body": "x"},
            ]
        }
    )
    first = batch.render("a", "en")
    again = batch.render("b", "en")
    french = batch.render("c", "fr")
    assert batch.memo.reusable
    assert again is first
    assert (title(first), title(french)) == ("Hello", "Bonjour")


def test_personalized_content_is_rendered_for_each_device() -> None:
    batch = Batch({"content": {"title": "Hi {{ installation.attributes.name }}", "body": "x"}})
    ann = batch.render("a", name="Ann")
    bob = batch.render("b", name="Bob")
    assert not batch.memo.reusable
    assert (title(ann), title(bob)) == ("Hi Ann", "Hi Bob")
