"""The core knows no platform (STYLE 1): bot/ imports no platform library, driver or adapter.
And one unit of work (ARCHITECTURE): nothing in bot/ but the composition root uses a session
or imports the table classes at run time."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "telegram",
    "nio",
    "adapters",
    "asyncpg",
    "aiosqlite",
    "psycopg",
    "psycopg2",
    "sqlalchemy",
    "aiohttp",
)
WIRING = {"app.py", "cli.py"}
TABLES = "storage.tables"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def core_modules() -> Iterator[Path]:
    """Every module of bot/ but the wiring (bot/app.py, bot/cli.py)."""
    for path in sorted((ROOT / "bot").rglob("*.py")):
        if path.parent == ROOT / "bot" and path.name in WIRING:
            continue
        yield path


def test_core_imports_no_platform_or_driver() -> None:
    offenders = []
    for path in core_modules():
        for module in imported_modules(path):
            if module.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_check_itself_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import telegram\nfrom nio import AsyncClient\nfrom . import y\n")
    assert imported_modules(sample) == {"telegram", "nio"}


def test_storage_and_config_import_no_platform() -> None:
    for folder in ("storage", "config"):
        for path in (ROOT / folder).rglob("*.py"):
            for module in imported_modules(path):
                assert module.split(".")[0] not in ("telegram", "nio", "adapters", "bot"), (
                    f"{path.relative_to(ROOT)} imports {module}"
                )


# -- one unit of work ----------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below `node`, except what only type checkers see (`if TYPE_CHECKING:`;
    its `else:` runs)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield child
        yield from _runtime_nodes(child)


def _imports_tables(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name == TABLES or a.name.startswith(TABLES + ".") for a in node.names)
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == TABLES or node.module.startswith(TABLES + "."):
            return True
        return node.module == "storage" and any(a.name == "tables" for a in node.names)
    return False


def storage_bypasses(path: Path) -> list[str]:
    """Where a module reaches past the unit of work: `.session` (attribute access) and
    importing storage.tables at run time; as `LINE: what`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Attribute) and node.attr == "session":
            found.append(f"{node.lineno}: .session")
        elif _imports_tables(node):
            assert isinstance(node, ast.Import | ast.ImportFrom)
            found.append(f"{node.lineno}: imports {TABLES}")
    return sorted(set(found), key=lambda f: int(f.split(":")[0]))


def test_core_uses_no_session_and_no_tables_at_run_time() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{where}"
        for path in core_modules()
        for where in storage_bypasses(path)
    ]
    assert offenders == []


def test_the_check_itself_sees_a_session_and_a_table_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "from storage.tables import Group\n"  # 2: at run time
        "if TYPE_CHECKING:\n"
        "    from storage.tables import Zone\n"  # fine: for type checkers only
        "    import storage.tables\n"
        "async def f(db, core):\n"
        "    import storage.tables as t\n"  # 7: a lazy import runs too
        "    from storage import tables\n"  # 8
        "    async with db.session() as s:\n"  # 9
        "        return GroupRepo(core.repo.session), s\n"  # 10
        "session = 1\n"  # a name, not an attribute: fine
    )
    assert storage_bypasses(sample) == [
        "2: imports storage.tables",
        "7: imports storage.tables",
        "8: imports storage.tables",
        "9: .session",
        "10: .session",
    ]
