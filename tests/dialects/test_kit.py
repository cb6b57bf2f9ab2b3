"""The dialect kit: the import rule of the dialects, and every shape answering every kind."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from starlette.requests import Request

from clarion.api.dialects import kit
from clarion.api.dialects.batch.errors import BATCH
from clarion.api.dialects.dengage.errors import DENGAGE
from clarion.api.dialects.kit import Dialect, Kind, Problem, answer
from clarion.api.dialects.pushv2.errors import PUSHV2
from clarion.api.dialects.sfmc.errors import SFMC

DIALECTS_DIR = Path(kit.__file__).resolve().parent.parent
PACKAGE = "clarion.api.dialects"
DIALECTS = {"batch": BATCH, "dengage": DENGAGE, "pushv2": PUSHV2, "sfmc": SFMC}
#: The core's request- and worker-time packages, reached by dialects only through kit.native.
CORE = ("clarion.pipeline", "clarion.sending", "clarion.delivery", "clarion.queue")
NATIVE = DIALECTS_DIR / "kit" / "native.py"


def _module_name(path: Path) -> str:
    parts = path.relative_to(DIALECTS_DIR).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def _imports(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _owner(module: str) -> str | None:
    """The dialect (or `kit`) a module under the package belongs to."""
    if not module.startswith(PACKAGE + "."):
        return None
    return module[len(PACKAGE) + 1 :].split(".", 1)[0]


def test_no_dialect_imports_the_store_or_another_dialect() -> None:
    files = sorted(DIALECTS_DIR.rglob("*.py"))
    assert len(files) > 10
    owners = {_owner(_module_name(path)) for path in files}
    assert {"kit", *DIALECTS} <= owners
    broken: list[str] = []
    for path in files:
        owner = _owner(_module_name(path))
        for imported in sorted(_imports(path)):
            if imported == "clarion.store" or imported.startswith("clarion.store."):
                broken.append(f"{path.name} ({owner}) imports {imported}")
            if path != NATIVE and imported.split(".")[:2] in [p.split(".") for p in CORE]:
                broken.append(f"{path.name} ({owner}) imports {imported}, not kit.native")
            target = _owner(imported)
            # The kit serves every dialect and imports none; a dialect imports only itself.
            if target is not None and target != owner and target != "kit":
                broken.append(f"{path.name} ({owner}) imports {imported}")
            if owner == "kit" and target is not None and target != "kit":
                broken.append(f"kit module {path.name} imports {imported}")
    assert broken == []


def _request(path: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"format=json",
            "headers": [(b"content-type", b"application/json")],
            "scheme": "http",
            "server": ("127.0.0.1", 80),
            "root_path": "",
        }
    )


@pytest.mark.parametrize("name", list(DIALECTS))
def test_every_shape_answers_every_kind_with_retry_after(name: str) -> None:
    dialect: Dialect = DIALECTS[name]
    for kind in Kind:
        problem = Problem(kind, "what went wrong", "field", retry_after=7)
        response = answer(dialect, problem, _request("/x"))
        assert 400 <= response.status_code < 600, (kind, response.status_code)
        assert response.headers["Retry-After"] == "7", kind
        assert b"what went wrong" in bytes(response.body), (kind, response.body)
    for kind, status in ((Kind.UNAVAILABLE, 503), (Kind.SERVER_ERROR, 500)):
        assert answer(dialect, Problem(kind, "m"), _request("/x")).status_code == status
        assert "Retry-After" not in answer(dialect, Problem(kind, "m"), _request("/x")).headers
