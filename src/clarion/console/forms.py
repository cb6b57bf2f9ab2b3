"""The compose form turned into a native send body, the one `POST /v1/sends` accepts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData

#: Extra per-language blocks the compose form offers besides the fallback content.
EXTRA_LANGUAGES = 2
AUDIENCES = ("contact", "tokens", "installation", "list", "segment", "all")


class FormProblem(ValueError):
    """A compose field that cannot be turned into a send body, with the field's name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class ComposeForm:
    """The compose fields as typed (strings), kept to refill the form."""

    values: dict[str, str] = field(default_factory=dict)
    apps: list[str] = field(default_factory=list)

    @classmethod
    def from_form(cls, form: FormData) -> ComposeForm:
        """Read the submitted fields (files are ignored), without NUL or other controls."""
        values = {k: _safe(v) for k, v in form.items() if isinstance(v, str) and k != "app"}
        apps = [_safe(v) for v in form.getlist("app") if isinstance(v, str) and v]
        return cls(values, apps)

    def get(self, name: str, default: str = "") -> str:
        """A field's trimmed value."""
        return self.values.get(name, default).strip()


#: Control characters no field may hold (tab and line ends stay: bodies have lines).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _safe(value: str) -> str:
    """The text without lone surrogates or control characters other than tab and newlines."""
    return _CONTROLS.sub("", value.encode("utf-8", "replace").decode("utf-8"))


def _json_object(form: ComposeForm, name: str) -> dict[str, Any] | None:
    text = form.get(name)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise FormProblem(name, f"not valid JSON ({exc.args[0]})") from None
    if not isinstance(value, dict):
        raise FormProblem(name, "must be a JSON object")
    return value


def _int(form: ComposeForm, name: str) -> int | None:
    text = form.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise FormProblem(name, "must be a whole number") from None


def _content(form: ComposeForm, suffix: str = "") -> dict[str, Any]:
    content: dict[str, Any] = {}
    for name in ("title", "subtitle", "body"):
        if form.get(name + suffix):
            content[name] = form.values[name + suffix]
    return content


def message_fields(form: ComposeForm) -> dict[str, Any]:
    """Content (or contents, or a template with params) and options of the compose form."""
    document: dict[str, Any] = {}
    if form.get("mode") == "template":
        if not form.get("template_id"):
            raise FormProblem("template_id", "choose a template")
        document["template_id"] = form.get("template_id")
        params = _json_object(form, "params")
        if params is not None:
            document["params"] = params
    else:
        fallback = _content(form)
        extras = []
        for index in range(1, EXTRA_LANGUAGES + 1):
            language = form.get(f"language_{index}")
            block = _content(form, f"_{index}")
            if language and block:
                extras.append({"language": language, **block})
            elif block:
                raise FormProblem(f"language_{index}", "give the language of this content")
        for name, value in (
            ("sound", form.get("sound")),
            ("deeplink", form.get("deeplink")),
            ("badge", _int(form, "badge")),
        ):
            if value not in (None, ""):
                fallback[name] = value
        if form.get("media"):
            fallback["media"] = {"picture": form.get("media")}
        data = _json_object(form, "data")
        if data is not None:
            fallback["data"] = data
        if extras:
            document["contents"] = [fallback, *extras]
        else:
            document["content"] = fallback
    options: dict[str, Any] = {}
    for name in ("priority", "collapse_key", "push_type"):
        if form.get(name):
            options[name] = form.get(name)
    ttl = _int(form, "ttl")
    if ttl is not None:
        options["ttl"] = ttl
    if options:
        document["options"] = options
    return document


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def audience_fields(form: ComposeForm) -> dict[str, Any]:
    """Recipients or audience, apps and schedule of the compose form."""
    document: dict[str, Any] = {}
    kind = form.get("audience", "contact")
    if kind == "contact":
        if not form.get("contact"):
            raise FormProblem("contact", "give the contact's external id")
        document["recipients"] = {"external_ids": [form.get("contact")], "all_devices": True}
    elif kind == "tokens":
        tokens = _lines(form.get("tokens"))
        if not tokens:
            raise FormProblem("tokens", "give at least one token")
        document["recipients"] = {"tokens": tokens}
    elif kind == "installation":
        if not form.get("installation"):
            raise FormProblem("installation", "give an installation id")
        document["recipients"] = {"installation_ids": [form.get("installation")]}
    elif kind == "list":
        if not form.get("list_id"):
            raise FormProblem("list_id", "choose a list")
        document["audience"] = {"list_id": form.get("list_id")}
    elif kind == "segment":
        if not form.get("segment_id"):
            raise FormProblem("segment_id", "choose a segment")
        document["audience"] = {"segment_id": form.get("segment_id")}
    elif kind == "all":
        document["audience"] = {"all": True}
    else:
        raise FormProblem("audience", f"must be one of {', '.join(AUDIENCES)}")
    if form.apps:
        document["apps"] = form.apps
    when = form.get("when", "now")
    if when == "at":
        at = form.get("at")
        if not at:
            raise FormProblem("at", "give the date and time (UTC)")
        try:
            instant = datetime.fromisoformat(at.removesuffix("Z"))
        except ValueError:
            raise FormProblem("at", "give the date and time as YYYY-MM-DDTHH:MM") from None
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)  # the form asks for UTC
        document["schedule"] = {"at": instant.isoformat()}
    elif when == "local":
        if "audience" not in document:
            raise FormProblem("when", "local-time delivery needs a list, segment or all devices")
        if not form.get("local_time") or not form.get("local_date"):
            raise FormProblem("local_time", "give the local time and the date")
        document["schedule"] = {
            "local_time": form.get("local_time"),
            "date": form.get("local_date"),
        }
    return document


def send_document(form: ComposeForm) -> dict[str, Any]:
    """The whole native send body of a compose form."""
    return audience_fields(form) | message_fields(form)
