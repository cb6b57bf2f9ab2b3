"""`clarion import`: CSV and JSON files streamed into a list, contacts created as needed."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from clarion.cli import app as clarion_cli
from clarion.cli_import import ImportFileError, iter_csv_file, iter_json_file
from tests.conftest import Project


async def _run(*args: str) -> tuple[int, str]:
    # The real `clarion` command line, so the registration of `import` is tested too.
    result = await asyncio.to_thread(CliRunner().invoke, clarion_cli, ["import", *args])
    return result.exit_code, result.output


async def _members(client: httpx.AsyncClient, project: Project, list_id: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get(f"/v1/lists/{list_id}/members", params=params, headers=project.headers)
        ).json()
        ids += [m["external_id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_import_csv_and_json_files(
    client: httpx.AsyncClient, project: Project, database_url: str, tmp_path: Path
) -> None:
    list_id = (
        await client.post("/v1/lists", json={"name": "imported"}, headers=project.headers)
    ).json()["id"]
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(
        "external_id,email\n" + "".join(f"user-{i},u{i}@example.com\n" for i in range(2500))
    )
    code, output = await _run(
        "--list", list_id, "--file", str(csv_file), "--database", database_url
    )
    assert code == 0, output
    assert "2500 external ids read, 2500 new members" in output
    json_file = tmp_path / "members.json"
    items = [{"external_id": "user-1"}, "json-only", {"external_id": "json-two"}]
    json_file.write_text(json.dumps(items, indent=2))
    code, output = await _run(
        "--list", list_id, "--file", str(json_file), "--database", database_url
    )
    assert code == 0, output
    assert "3 external ids read, 2 new members" in output
    members = await _members(client, project, list_id)
    assert len(members) == len(set(members)) == 2502
    assert {"user-0", "user-2499", "json-only", "json-two"} <= set(members)
    contact = await client.get("/v1/contacts/json-two", headers=project.headers)
    assert contact.status_code == 200


async def test_import_refuses_unknown_lists_and_bad_files(
    client: httpx.AsyncClient, project: Project, database_url: str, tmp_path: Path
) -> None:
    good = tmp_path / "ok.csv"
    good.write_text("a\n")
    code, output = await _run("--list", "lst_nope", "--file", str(good), "--database", database_url)
    assert code != 0 and "not found" in output
    list_id = (await client.post("/v1/lists", json={"name": "x"}, headers=project.headers)).json()[
        "id"
    ]
    broken = tmp_path / "broken.json"
    broken.write_text('["a", {"external_id": 5}]')
    code, output = await _run("--list", list_id, "--file", str(broken), "--database", database_url)
    assert code != 0 and "not an external id" in output


def test_json_stream_reads_values_cut_by_chunk_boundaries() -> None:
    ids = [f"contact-{i:05d}-" + "x" * (i % 50) for i in range(5000)]
    text = json.dumps([{"external_id": i} if n % 2 else i for n, i in enumerate(ids)])
    read: list[int] = []
    assert list(iter_json_file(io.BytesIO(text.encode()), read.append)) == ids
    assert sum(read) == len(text)
    lines = "\n".join(json.dumps(i) for i in ids[:10]) + "\n"
    assert list(iter_json_file(io.BytesIO(lines.encode()), lambda _: None)) == ids[:10]
    with pytest.raises(ImportFileError):
        list(iter_json_file(io.BytesIO(b'["a", "b"'), lambda _: None))


def test_csv_stream_reads_any_line_end_and_refuses_unstorable_ids() -> None:
    for text in (b"external_id\rann\rbob\r", b"external_id\r\nann\r\nbob", b"ann\nbob\n"):
        assert list(iter_csv_file(io.BytesIO(text), lambda _: None)) == ["ann", "bob"]
    for bad in (b"a" * (130 * 1024) + b"\n", b'"' + b"a" * (200 * 1024) + b'"\n', b"a\x00b\n"):
        with pytest.raises(ImportFileError):
            list(iter_csv_file(io.BytesIO(bad), lambda _: None))
    with pytest.raises(ImportFileError):
        list(iter_json_file(io.BytesIO(b'["a\\ud800b"]'), lambda _: None))
