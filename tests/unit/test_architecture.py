"""The core knows no platform (STYLE 1): bot/ imports no platform library, driver or adapter."""

from __future__ import annotations

import ast
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


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_imports_no_platform_or_driver() -> None:
    offenders = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        if path.parent == ROOT / "bot" and path.name in WIRING:
            continue
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
