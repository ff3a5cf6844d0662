"""The project's import graph (ast, no import executed): no cycle among simulator/ and
models/ modules, models/ never imports simulator/, and every project import inside a
function says why with a ``# local import: <why>`` comment."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simulator", "models")
LOCAL_OK = "# local import:"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> list[str]:
    """The project modules an import statement loads (``from pkg import mod`` counts as
    an import of ``pkg.mod`` when that is a module, else of ``pkg``)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif node.level or node.module is None:
        return []  # the project uses absolute imports only
    else:
        names = [
            f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
            for a in node.names
        ]
    return [n for n in names if n.split(".")[0] in PACKAGES and n in modules]


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """(module -> modules it imports, function-local project imports without a reason)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    unexplained = []
    for name, path in modules.items():
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        local = set()
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                local |= {id(n) for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            targets = _targets(node, modules)
            if not targets:
                continue
            if id(node) in local:
                context = "\n".join(lines[max(node.lineno - 3, 0) : node.end_lineno])
                if LOCAL_OK not in context:
                    unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            graph[name].update(t for t in targets if t != name)
    return graph, unexplained


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    graph, _ = _graph()
    assert _cycles(graph) == []


def test_cycle_detection_works():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_models_never_import_simulator():
    graph, _ = _graph()
    bad = {m: sorted(t for t in ts if t.startswith("simulator")) for m, ts in graph.items()}
    assert {m: ts for m, ts in bad.items() if m.startswith("models") and ts} == {}


def test_function_local_project_imports_say_why():
    _, unexplained = _graph()
    assert unexplained == []


def test_no_cycle_between_folders():
    """One-way flow between the folders of simulator/ (config -> book -> scenarios ->
    engine -> analysis -> store -> reporting -> api -> cli) and models/ below them. A
    package's ``__main__`` (``python -m simulator.live``) is an entry point above cli, not
    part of its folder."""
    graph, _ = _graph()
    folder = {m: m if m.endswith(".__main__") else ".".join(m.split(".")[:2]) for m in graph}
    folders: dict[str, set[str]] = {f: set() for f in folder.values()}
    for m, targets in graph.items():
        folders[folder[m]] |= {folder[t] for t in targets if folder[t] != folder[m]}
    assert _cycles(folders) == []


def test_every_package_folder_ships_in_the_wheel():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("__init__.py")
    }
    assert found <= listed and "simulator._conf" in listed
