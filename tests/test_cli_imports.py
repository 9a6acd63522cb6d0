"""The command line's modules import each other one way only (function-level imports count)."""

from __future__ import annotations

import ast
from pathlib import Path

import esc_sync

SRC = Path(esc_sync.__file__).resolve().parent


def module_name(path: Path) -> str:
    """`esc_sync.cli.run` for src/esc_sync/cli/run.py, `esc_sync.cli` for its __init__.py."""
    parts = ["esc_sync", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every esc_sync module that a file imports, wherever the import statement stands."""
    found: set[str] = set()
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules}


def test_no_cli_module_imports_one_that_imports_it_back() -> None:
    files = {module_name(p): p for p in SRC.rglob("*.py")}
    graph = {name: imports_of(path, set(files)) for name, path in files.items()}
    assert {"esc_sync.cli", "esc_sync.cli.common"} <= set(graph)
    assert not any(name.startswith("esc_sync.cli_") for name in graph)  # no module beside it

    for start in (
        name for name in graph if name == "esc_sync.cli" or name.startswith("esc_sync.cli.")
    ):
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            name = todo.pop()
            assert name != start, f"{start} imports a module that imports it back"
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name])


def test_cli_modules_stay_small() -> None:
    for path in (SRC / "cli").glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 500, path.name
