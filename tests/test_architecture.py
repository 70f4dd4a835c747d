"""The shape of the code, checked: no import cycle, layers that only point down, raw driver
calls only in the modules that say why they need them, and bounded module sizes."""

from __future__ import annotations

import re
from pathlib import Path

import grimp
import pytest

from tests.sharding import public_read, scoped

ROOT = Path(__file__).resolve().parent.parent
GRAPH = grimp.build_graph("app", "documents")

# The modules that use the raw driver, each saying why in its docstring: GridFS, the message
# window engine, migrations, dumps, connection and index management, index/collection
# diagnostics, the engine profile itself, and the usage rollups' guarded bulk increments and
# their rebuild.
RAW_DRIVER_MODULES = {
    "app/auth/scoping.py",
    "app/conversations/history.py",
    "app/conversations/window.py",
    "app/search/candidates.py",
    "app/streams/feeds.py",
    "app/database.py",
    "app/diagnostics/service.py",
    "app/dump.py",
    "app/engine/writes.py",
    "app/migrations/runner.py",
    "app/migrations/steps.py",
    "app/storage/blobs.py",
    "app/storage/leases.py",
    "app/usage/ledger.py",
    "app/usage/rebuild.py",
    "app/usage/rollups.py",
}
RAW_CALL = re.compile(r"get_pymongo_collection|\.database\[|db\[|\.collection\.")


def _cycles() -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for imported in GRAPH.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(GRAPH.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle() -> None:
    assert _cycles() == []


def test_layers_point_down() -> None:
    """routers → services → documents/storage, never back; documents know nothing of the app."""
    routers = {m for m in GRAPH.modules if m.endswith(".router")}
    for module in GRAPH.modules - routers - {"app.main"}:
        imported = GRAPH.find_modules_directly_imported_by(module)
        assert not imported & routers, f"{module} imports a router"
    for module in GRAPH.find_descendants("documents") | {"documents"}:
        imported = GRAPH.find_modules_directly_imported_by(module)
        assert not {m for m in imported if m.startswith("app")}, f"{module} imports the app"
    services = {m for m in GRAPH.modules if m.endswith(".service")}
    lower = {"app.storage", "app.engine"}
    for module in (
        GRAPH.find_descendants("app.storage") | GRAPH.find_descendants("app.engine") | lower
    ):
        imported = GRAPH.find_modules_directly_imported_by(module)
        assert not imported & services, f"{module} imports a service"


def test_raw_driver_only_where_it_says_why() -> None:
    found = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("*.py")
        if RAW_CALL.search(path.read_text())
    }
    assert found <= RAW_DRIVER_MODULES, found - RAW_DRIVER_MODULES
    for module in RAW_DRIVER_MODULES:
        docstring = (ROOT / module).read_text().split('"""')[1].lower()
        assert "raw driver" in docstring or "driver" in docstring, module


def test_driver_errors_are_met_in_the_engine_module() -> None:
    """Unique violations and transient answers are handled by the engine's write primitives:
    outside `app/engine/`, only the API's error handler names a driver error."""
    pattern = re.compile(
        r"except .*(DuplicateKeyError|OperationFailure|BulkWriteError)|is_unique_(violation|error)"
        r"|exception_handler\((DuplicateKeyError|OperationFailure|BulkWriteError)"
    )
    places = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "app").rglob("*.py")
        if "engine" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert len(places) <= 2, places


def test_owner_filters_come_from_the_scope() -> None:
    """No hand-written owner filter (`{"owner_id": …` on one line) outside the scoping
    module; documents being written spell their fields over several lines."""
    pattern = re.compile(r"""\{[ \t]*["'](metadata\.)?owner_id["'][ \t]*:""")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("*.py")
        if path.name != "scoping.py" and pattern.search(path.read_text())
    ]
    assert offenders == []


def test_services_return_documents_or_typed_models() -> None:
    untyped = re.compile(r"^async def \w+\(.*?\) -> dict\[str, Any\]:", re.MULTILINE | re.DOTALL)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("service.py")
        if untyped.search(path.read_text())
    ]
    assert offenders == []


def test_one_page_model_and_one_cursor_parameter() -> None:
    sources = {path: path.read_text() for path in (ROOT / "app").rglob("*.py")}
    pages = [p for p, text in sources.items() if re.search(r"^class Page\b", text, re.MULTILINE)]
    cursors = [p for p, text in sources.items() if re.search(r"\bcursor: Annotated\[", text)]
    assert [p.name for p in pages] == ["pagination.py"]
    assert [p.name for p in cursors] == ["pagination.py"]


def test_modules_stay_small() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in (ROOT / "app").rglob("*.py")
    }
    assert sizes["app/conversations/service.py"] < 350
    assert {name: lines for name, lines in sizes.items() if lines > 400} == {}


def test_the_sharding_audit_knows_a_scoped_filter() -> None:
    assert scoped({"owner_id": 1, "_id": 2}, "owner_id")
    assert scoped({"$and": [{"owner_id": 1}, {"$or": [{"a": 1}, {"b": 2}]}]}, "owner_id")
    assert scoped({"$or": [{"owner_id": 1}, {"owner_id": 2, "x": 1}]}, "owner_id")
    assert not scoped({"_id": 2}, "owner_id")
    assert not scoped({"$or": [{"owner_id": 1}, {"visibility": "public"}]}, "owner_id")
    assert public_read({"$or": [{"owner_id": 1}, {"visibility": "public"}]})
    assert not public_read({"expires_at": {"$lt": 1}})


def test_every_document_is_a_stored_document() -> None:
    """`StoredDocument` (documents/base.py) reads attributes with Python's own lookup and runs
    the private attributes' initialisation once: every registered document must get both."""
    from documents import ALL_DOCUMENTS
    from documents.base import StoredDocument
    from documents.user import User

    assert all(issubclass(model, StoredDocument) for model in ALL_DOCUMENTS)
    for model in ALL_DOCUMENTS:
        assert model.__getattribute__ is object.__getattribute__, model
    user = User.model_construct(email="a@example.com")
    assert user.email == "a@example.com" and user.__pydantic_private__ is not None
    with pytest.raises(NotImplementedError):
        User.lazy_parse({"email": "a@example.com"})
