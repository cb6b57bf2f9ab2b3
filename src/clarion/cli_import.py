"""`clarion import`: stream a CSV or JSON file of external ids into a list, with a progress bar.

The file is read in bounded chunks, never whole: each chunk of ids is added in one
transaction (unknown contacts are created), so an interrupted import can simply be
run again (adding a member twice is a no-op).
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from clarion import eventloop
from clarion.config import Settings
from clarion.domain.safe_input import text_problem

#: External ids added per transaction.
IMPORT_CHUNK = 1000
_READ_BYTES = 64 * 1024
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
MAX_EXTERNAL_ID = 256


class ImportFileError(ValueError):
    """The file is not a list of external ids in a format we read."""


def iter_csv_file(stream: BinaryIO, on_bytes: Callable[[int], None]) -> Iterator[str]:
    """External ids of a CSV: its external_id column if a header names it, else column one."""

    def lines() -> Iterator[str]:
        for number, raw in enumerate(stream):
            on_bytes(len(raw))
            text = raw.decode("utf-8-sig" if number == 0 else "utf-8")
            # A file with CR-only line ends reads as one binary line; csv wants each line.
            yield from _LINE.findall(text)

    column = 0
    try:
        for number, row in enumerate(csv.reader(lines())):
            if not row or not any(cell.strip() for cell in row):
                continue
            names = [cell.strip().lower() for cell in row]
            if number == 0 and "external_id" in names:
                column = names.index("external_id")
                continue
            if column < len(row) and row[column].strip():
                yield _external_id(row[column].strip())
    except csv.Error as exc:
        raise ImportFileError(f"the CSV file cannot be read: {exc}") from None


def iter_json_file(stream: BinaryIO, on_bytes: Callable[[int], None]) -> Iterator[str]:
    """External ids of a JSON array (or JSON lines) of strings or {"external_id": ...} objects."""
    decoder = json.JSONDecoder()
    text_decoder = codecs.getincrementaldecoder("utf-8-sig")()
    buffer = ""
    started = False
    in_array = False
    finished = False
    eof = False
    while True:
        position = _skip(buffer, 0, " \t\r\n,")
        if not started and position < len(buffer):
            started = True
            if buffer[position] == "[":
                in_array = True
                position += 1
                position = _skip(buffer, position, " \t\r\n,")
        if position < len(buffer) and buffer[position] == "]":
            finished = True
            buffer = buffer[position + 1 :]
            position = 0
        elif position < len(buffer):
            try:
                item, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError:
                if eof:
                    raise ImportFileError("the file is not valid JSON") from None
                item, end = None, -1
            # A value cut by the chunk boundary is read again once more text arrives.
            if end >= 0 and (end < len(buffer) or eof):
                buffer = buffer[end:]
                yield _external_id(item)
                continue
        else:
            buffer = ""
        if finished and buffer.strip():
            raise ImportFileError("text after the end of the JSON array")
        if eof:
            if buffer.strip() or (in_array and not finished):
                raise ImportFileError("the file is not valid JSON")
            return
        chunk = stream.read(_READ_BYTES)
        on_bytes(len(chunk))
        eof = not chunk
        buffer = buffer[position:] + text_decoder.decode(chunk, final=eof)


def _skip(text: str, position: int, characters: str) -> int:
    while position < len(text) and text[position] in characters:
        position += 1
    return position


def _external_id(item: Any) -> str:
    if isinstance(item, dict):
        item = item.get("external_id")
    if not isinstance(item, str) or not item.strip() or len(item) > MAX_EXTERNAL_ID:
        raise ImportFileError(f"{item!r} is not an external id (1 to {MAX_EXTERNAL_ID} characters)")
    problem = text_problem(item)
    if problem is not None:
        raise ImportFileError(f"{item!r} is not an external id: it {problem}")
    return item


def read_ids(path: Path, stream: BinaryIO, on_bytes: Callable[[int], None]) -> Iterator[str]:
    """External ids of a file, by its extension: .csv, .json or .jsonl."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return iter_csv_file(stream, on_bytes)
    if suffix in (".json", ".jsonl", ".ndjson"):
        return iter_json_file(stream, on_bytes)
    raise ImportFileError("the file must end in .csv, .json or .jsonl")


async def import_file(
    database_url: str,
    list_id: str,
    path: Path,
    on_bytes: Callable[[int], None] = lambda _: None,
    chunk_size: int = IMPORT_CHUNK,
) -> tuple[int, int]:
    """Add every external id of the file to the list; return (ids read, members added)."""
    from clarion.store import lists as list_store
    from clarion.store.engine import create_engine
    from clarion.store.migrate import upgrade

    engine = create_engine(database_url)
    read = added = 0
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            found = (
                await conn.execute(
                    select(list_store.lists.c.pk, list_store.lists.c.project_id).where(
                        list_store.lists.c.id == list_id
                    )
                )
            ).first()
        if found is None:
            raise ImportFileError(f"list {list_id!r} not found")
        with path.open("rb") as stream:
            chunk: list[str] = []
            for external_id in read_ids(path, stream, on_bytes):
                chunk.append(external_id)
                if len(chunk) >= chunk_size:
                    added += await _add(engine, found.project_id, found.pk, chunk)
                    read += len(chunk)
                    chunk = []
            if chunk:
                added += await _add(engine, found.project_id, found.pk, chunk)
                read += len(chunk)
    finally:
        await engine.dispose()
    return read, added


async def _add(engine: AsyncEngine, project_id: str, list_pk: int, chunk: list[str]) -> int:
    from clarion.store import lists as list_store

    async with engine.begin() as conn:
        return await list_store.add_members(conn, project_id, list_pk, chunk)


def import_command(
    list_id: str = typer.Option(..., "--list", help="Id of the list to add members to."),
    file: Path = typer.Option(
        ...,
        "--file",
        exists=True,
        dir_okay=False,
        help="CSV (one external id per line or an external_id column) or JSON/JSON lines.",
    ),
    database: str | None = typer.Option(
        None, "--database", help="Database URL (default: SQLite file under ./var/)."
    ),
) -> None:
    """Import list members from a file, creating contacts as needed."""
    settings = Settings()
    if database:
        settings.database_url = database
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(f"importing {file.name}", total=file.stat().st_size)
        try:
            read, added = eventloop.run(
                import_file(
                    settings.effective_database_url,
                    list_id,
                    file,
                    lambda count: progress.advance(task, count),
                )
            )
        except ImportFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="--file") from exc
    typer.echo(f"{read} external ids read, {added} new members in {list_id}")
