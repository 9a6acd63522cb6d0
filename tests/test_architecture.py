"""The package's shape (docs/architecture.md): no import cycle, small modules, a pure core.

The layer contracts themselves are `lint-imports` contracts in pyproject.toml (run by
`make lint`); these tests add what import-linter does not check.
"""

from __future__ import annotations

from pathlib import Path

import grimp

SRC = Path(__file__).resolve().parents[1] / "src" / "esc_sync"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), imports in functions and under
    TYPE_CHECKING included."""
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = grimp.build_graph("esc_sync", cache_dir=None)
    assert _cycles(graph) == []


def test_the_planner_and_the_policy_do_no_io_and_keep_no_log() -> None:
    graph = grimp.build_graph("esc_sync", include_external_packages=True, cache_dir=None)
    io = {"requests", "sqlite3", "structlog", "logging", "socket", "http", "urllib3"}
    for package in ("esc_sync.plan", "esc_sync.policy"):
        for module in graph.find_children(package) | {package}:
            imported = {m.split(".")[0] for m in graph.find_modules_directly_imported_by(module)}
            assert not imported & io, f"{module} imports {sorted(imported & io)}"


def test_no_module_outside_the_sandbox_exceeds_500_lines() -> None:
    long = {
        str(path.relative_to(SRC)): n
        for path in SRC.rglob("*.py")
        if "sandbox" not in path.parts and (n := len(path.read_text().splitlines())) > 500
    }
    assert long == {}
