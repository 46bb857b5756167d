"""style.md §3: the library never imports Dagster; pipelines/ stays thin."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIPELINES_MAY_IMPORT = {"dagster", "sse_stats", "pipelines", "__future__"}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Top-level names of absolute imports in a file, with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def _python_files(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python file under {package}/"
    return files


def test_library_never_imports_dagster() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _python_files("sse_stats")
        for line, name in _imported_modules(path)
        if name == "dagster" or name.startswith("dagster_")
    ]
    assert offenders == []


def test_pipelines_import_only_dagster_sse_stats_and_stdlib() -> None:
    allowed = PIPELINES_MAY_IMPORT | set(sys.stdlib_module_names)
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _python_files("pipelines")
        for line, name in _imported_modules(path)
        if name not in allowed
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import dagster as dg", ["dagster"]),
        ("from dagster_duckdb import DuckDBResource", ["dagster_duckdb"]),
        (
            "import importlib\nimportlib.import_module('dagster')",
            ["importlib", "dagster"],
        ),
        ("from . import sibling", []),
    ],
)
def test_the_scan_sees_imports(
    tmp_path: Path, source: str, expected: list[str]
) -> None:
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    assert [name for _, name in _imported_modules(path)] == expected
