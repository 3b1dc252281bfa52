"""The package's plan, checked from its source: no import cycle, no private werkzeug.

Imports are read with :mod:`ast`, as Python runs them when a module is
imported: module level and class bodies count; ``if TYPE_CHECKING:`` blocks
and imports inside functions do not (they run later, or never).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import werkzeug

import microapi

PACKAGE = Path(microapi.__file__).parent
WERKZEUG = Path(werkzeug.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements run when the module is imported."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                yield from _runtime_imports(node.body)
            yield from _runtime_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _runtime_imports(block)
            for handler in node.handlers:
                yield from _runtime_imports(handler.body)
        elif isinstance(node, (ast.With, ast.ClassDef)):
            yield from _runtime_imports(node.body)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The microapi modules an import statement of module *name* runs."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level:
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    if base not in known:
        return set()
    # "from .routing import table" runs the submodule; "from . import x" of
    # a plain name runs only the package.
    submodules = {f"{base}.{alias.name}" for alias in node.names} & known
    return submodules or {base}


def import_graph() -> dict[str, set[str]]:
    """Module → the microapi modules it imports at import time."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges: set[str] = set()
        for node in _runtime_imports(tree.body):
            edges |= _targets(name, path, node, known)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of *graph* as a list of modules, or ``None``."""
    done: set[str] = set()

    def visit(module: str, stack: list[str]) -> list[str] | None:
        if module in stack:
            return [*stack[stack.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph.get(module, ())):
            cycle = visit(target, [*stack, module])
            if cycle is not None:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle is not None:
            return cycle
    return None


def test_the_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "microapi.routing.table" in graph["microapi.app"]
    assert "microapi.routing.declare" in graph["microapi.routing"]
    assert "microapi.routing.compiled" in graph["microapi.routing.table"]
    # A type-only import is not an edge: request.py names Api for mypy only.
    assert "microapi.app" not in graph["microapi.request"]


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_at_runtime() -> None:
    assert find_cycle(import_graph()) is None


def _private_werkzeug_names() -> set[str]:
    """``_name`` attributes and methods werkzeug's own classes define."""
    names: set[str] = set()
    for path in WERKZEUG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        names.add(item.name)
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def _own_names(trees: list[ast.Module]) -> set[str]:
    """Names microapi defines itself (attributes, methods, slots, class names)."""
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)  # __slots__ entries
    return names


def test_no_private_werkzeug_name_is_imported() -> None:
    used = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("werkzeug"):
                module_private = any(part.startswith("_") for part in node.module.split("."))
                names = [alias.name for alias in node.names if alias.name.startswith("_")]
                if module_private or names:
                    used.append(f"{name}: from {node.module} import {names}")
            elif isinstance(node, ast.Import):
                used += [
                    f"{name}: import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("werkzeug") and "._" in alias.name
                ]
    assert used == []


# microapi's own attributes that share a name with a private one of
# werkzeug's (Res._status, Res._headers, proxy's _Response._done...): set on
# microapi's own classes, never read from werkzeug's objects.
SHARED_NAMES = {"_done", "_headers", "_root", "_status", "_stream"}


def test_no_private_werkzeug_attribute_is_read() -> None:
    # An attribute named like one of werkzeug's private ones (rule._parts,
    # Headers._list, Request._cached_data), read, written, or named in a
    # string (getattr(req, "_cached_data")), must be werkzeug's.
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in _modules().items()}
    private = _private_werkzeug_names()
    assert {"_parts", "_converters", "_list", "_cached_data"} <= private  # the check would see them
    assert SHARED_NAMES.issubset(private & _own_names(list(trees.values())))  # none stale
    suspects = private - SHARED_NAMES
    used = sorted(
        f"{name}:{node.lineno}: {node.attr if isinstance(node, ast.Attribute) else node.value!r}"
        for name, tree in trees.items()
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr in suspects)
        or (isinstance(node, ast.Constant) and node.value in suspects)
    )
    assert used == []


def _private_overrides(tree: ast.Module, private: set[str]) -> list[str]:
    """Methods of a subclass of a werkzeug class that override a private one."""
    from_werkzeug = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("werkzeug")
        for alias in node.names
    }
    return [
        f"{node.name}.{item.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Name) and base.id in from_werkzeug for base in node.bases)
        for item in node.body
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in private
    ]


def test_no_private_werkzeug_method_is_overridden() -> None:
    private = _private_werkzeug_names()
    overrides = {
        f"{name}: {override}"
        for name, path in _modules().items()
        for override in _private_overrides(ast.parse(path.read_text(encoding="utf-8")), private)
    }
    assert overrides == set()
    hook = "from werkzeug.test import Client\nclass C(Client):\n  def _add_cookies_to_wsgi(s): ..."
    assert _private_overrides(ast.parse(hook), private) == ["C._add_cookies_to_wsgi"]


@pytest.mark.parametrize("source", ["rule._parts", "from werkzeug.wsgi import _get_server"])
def test_the_private_name_checks_would_fail(source: str) -> None:
    tree = ast.parse(source)
    suspects = _private_werkzeug_names()
    node = tree.body[0]
    if isinstance(node, ast.ImportFrom):
        assert any(alias.name.startswith("_") for alias in node.names)
    else:
        attributes = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)]
        assert set(attributes) & suspects


def test_routing_builds_on_nothing_but_itself_and_types() -> None:
    # A route table can be built and queried without the app, request or
    # response (CONTRIBUTING.md, "Architecture").
    graph = import_graph()
    allowed = {name for name in graph if name.startswith("microapi.routing")}
    allowed |= {"microapi.types", "microapi.protocol"}
    outside = {
        name: sorted(targets - allowed)
        for name, targets in graph.items()
        if name.startswith("microapi.routing") and targets - allowed
    }
    assert outside == {}


ADD_ONS = {
    "microapi.openapi",
    "microapi.docs",
    "microapi.discover",
    "microapi.proxy",
    "microapi.cli",
    "microapi.__main__",
    "microapi.appload",
    "microapi.servers",
}


def _imported_with(graph: dict[str, set[str]], module: str) -> set[str]:
    """Every module importing *module* runs, itself included."""
    seen = {module}
    todo = [module]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_core_loads_without_the_add_ons() -> None:
    # CONTRIBUTING.md, "Architecture": the add-ons are imported when used.
    graph = import_graph()
    assert ADD_ONS.issubset(graph)
    assert _imported_with(graph, "microapi") & ADD_ONS == set()
    assert "microapi.appload" in _imported_with(graph, "microapi.cli")  # the check sees edges


def test_import_microapi_loads_only_the_core() -> None:
    # What the core may leave for later (issue 19): the add-ons, the
    # optional and the costly dependencies, loaded when used.
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "import microapi, sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    later = ADD_ONS | {
        "microapi.security",
        "microapi.sessions",
        "microapi.validation",
        "microapi.middleware",
        "asyncio",
        "itsdangerous",
        "marshmallow",
        "apispec",
    }
    assert "microapi.app" in out
    assert later.isdisjoint(out), sorted(later.intersection(out))
