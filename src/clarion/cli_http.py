"""What the registry commands share: calling a Clarion server's API, and printing answers."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import typer

UrlOption = typer.Option(
    None,
    "--url",
    envvar="CLARION_URL",
    help="Server URL (default: http://CLARION_HOST:CLARION_PORT, else http://127.0.0.1:8080).",
)
KeyOption = typer.Option(
    None, "--key", envvar="CLARION_API_KEY", help="API key (default: CLARION_API_KEY)."
)
ProjectOption = typer.Option(
    None,
    "--project",
    envvar="CLARION_PROJECT",
    help="With the server admin key: the project to act in (Clarion-Project header).",
)
JsonOption = typer.Option(False, "--json", help="Print the server's JSON answer.")
FieldOption = typer.Option(
    None, "--field", help="Print only this field of the answer (e.g. public_key)."
)

#: Seconds one API call may take before the command gives up.
TIMEOUT = 30.0


def default_url() -> str:
    """The local server's URL, from CLARION_HOST and CLARION_PORT."""
    host = os.environ.get("CLARION_HOST", "127.0.0.1")
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{os.environ.get('CLARION_PORT', '8080')}"


@dataclass(frozen=True)
class Api:
    """A Clarion server reached with one key."""

    url: str
    key: str
    project: str | None = None

    @classmethod
    def of(cls, url: str | None, key: str | None, project: str | None = None) -> Api:
        """Build from the command's options; a missing key stops the command with a hint."""
        key = key or os.environ.get("CLARION_ADMIN_KEY") or ""
        if not key:
            typer.echo(
                "clarion: no API key: set CLARION_API_KEY (e.g. "
                "`export CLARION_API_KEY=$(clarion keys create --project P --scope admin)`) "
                "or pass --key",
                err=True,
            )
            raise typer.Exit(2)
        return cls((url or default_url()).rstrip("/"), key, project)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Call the API; an error answer stops the command with the server's message."""
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        if self.project:
            headers["Clarion-Project"] = self.project
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as error:
            _fail(error.code, error.read())
        except urllib.error.URLError as error:
            typer.echo(f"clarion: cannot reach {self.url}: {error.reason}", err=True)
            raise typer.Exit(3) from None
        return json.loads(raw) if raw else None

    def pages(self, path: str, limit: int = 100) -> list[dict[str, Any]]:
        """Every item of a paginated list."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            separator = "&" if "?" in path else "?"
            query = f"{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            page = self.call("GET", path + query)
            items += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def _fail(status: int, raw: bytes) -> None:
    try:
        error = json.loads(raw)["error"]
        message = f"{error['code']}: {error['message']}"
        if error.get("field"):
            message += f" (field {error['field']})"
    except (ValueError, KeyError, TypeError):
        message = raw.decode(errors="replace")[:500]
    typer.echo(f"clarion: the server answered {status}: {message}", err=True)
    raise typer.Exit(1)


def show(
    answer: Any, as_json: bool, columns: Sequence[str] | None = None, field: str | None = None
) -> None:
    """Print an answer: JSON, a table for lists, `field: value` lines for one object."""
    if field is not None:
        if not isinstance(answer, dict) or field not in answer:
            typer.echo(f"clarion: the answer has no field {field!r}", err=True)
            raise typer.Exit(1)
        value = answer[field]
        typer.echo(value if isinstance(value, str) else json.dumps(value))
    elif as_json:
        typer.echo(json.dumps(answer, indent=2, sort_keys=True))
    elif isinstance(answer, list):
        typer.echo(table(answer, columns or _columns(answer)))
    elif isinstance(answer, dict):
        width = max((len(k) for k in answer), default=0)
        for name, value in answer.items():
            typer.echo(f"{name:<{width}}  {_cell(value)}")


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names and not isinstance(row[k], dict | list)]
    return names


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as an aligned text table under a header of `columns`."""
    cells = [[_cell(row.get(name)) for name in columns] for row in rows]
    widths = [max([len(name), *(len(r[i]) for r in cells)]) for i, name in enumerate(columns)]
    lines = ["  ".join(n.upper().ljust(w) for n, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)
