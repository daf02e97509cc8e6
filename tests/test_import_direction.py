"""Dependencies point one way (docs/architecture.md, "Layers"): an AST walk over every module.

Each module belongs to one layer; a layer may import only the layers listed
for it. Imports inside functions count as much as those at the top. No
module cycle and no package cycle is allowed, whatever the layers say.
"""
from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("wfm", "telephony", "pbxsim", "optimizer", "dashboard")

# wfm modules that are contracts: the shapes every layer may share (events, decisions, views, ports, config types)
CONTRACTS = {"wfm", "wfm.events", "wfm.decisions", "wfm.views", "wfm.ports", "wfm.wire", "wfm.config", "wfm.timeutil", "wfm.clock"}
# (module prefix, layer); the longest matching prefix wins
LAYER_OF: tuple[tuple[str, str], ...] = (
    ("wfm.commands", "root"),
    ("wfm.cli", "root"),
    ("wfm.__main__", "root"),
    ("wfm.api", "web"),
    ("wfm.runtime", "live"),
    ("wfm.scaleout", "live"),
    ("wfm.watermark", "live"),
    ("wfm.enactment", "live"),  # the runtime's PBX actions: send, retry, confirm, record
    ("wfm.auth", "live"),
    ("wfm.users", "live"),  # the users file (wfm user, wfm serve)
    ("wfm.engine", "engine"),
    ("wfm.readmodel", "engine"),
    ("wfm.counterfactual", "engine"),
    ("wfm.floor", "state"),
    ("wfm.rules", "state"),
    ("wfm.gate", "state"),
    ("wfm.eventlog", "log"),
    ("telephony", "adapters"),
    ("pbxsim", "pbxsim"),
    ("optimizer", "optimizer"),
    ("dashboard", "dashboard"),
)
ALL = {"contracts", "log", "state", "engine", "live", "web", "adapters", "pbxsim", "optimizer", "dashboard", "root"}
MAY_IMPORT: dict[str, set[str]] = {
    "contracts": {"contracts"},
    "log": {"contracts", "log"},
    "state": {"contracts", "state"},
    "engine": {"contracts", "state", "engine"},
    "live": {"contracts", "live"},  # the runtime knows the engine and the log through ports only
    "web": {"contracts", "log", "state", "engine", "live", "web", "optimizer"},
    "adapters": {"contracts", "adapters"},  # and never wfm.config (see NOT_FOR_ADAPTERS)
    "pbxsim": {"contracts", "pbxsim"},
    "optimizer": {"contracts", "optimizer"},
    "dashboard": {"contracts", "dashboard"},  # a client of the API: wire types only
    "root": ALL,
}
NOT_FOR_ADAPTERS = {"wfm.config"}  # an adapter takes its own small settings object, built by wfm/commands

# Known exceptions, each to be removed by the change that fixes it (the test fails once one is no longer needed)
KNOWN_EDGES: set[tuple[str, str]] = set()
KNOWN_PACKAGE_CYCLES: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules `name` imports (the deepest existing module each import names)."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            wanted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            wanted = [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in wanted:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
    return targets


GRAPH: dict[str, set[str]] = {name: _imports(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> str:
    if module in CONTRACTS:
        return "contracts"
    best = ""
    layer = None
    for prefix, name in LAYER_OF:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best, layer = prefix, name
    if layer is None:
        raise AssertionError(f"{module}: no layer (add it to LAYER_OF in {Path(__file__).name})")
    return layer


def _wrong_way() -> set[tuple[str, str]]:
    wrong = set()
    for module, targets in GRAPH.items():
        mine = layer_of(module)
        for target in targets:
            theirs = layer_of(target)
            if theirs not in MAY_IMPORT[mine] or (mine == "adapters" and target in NOT_FOR_ADAPTERS):
                wrong.add((module, target))
    return wrong


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    """The package a module is counted in for package cycles: wfm's top modules each stand alone."""
    if MODULES[module].name == "__init__.py":
        return module
    parent = module.rpartition(".")[0]
    return module if parent in ("", "wfm") else parent


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_imports_point_down_the_layers():
    wrong = _wrong_way() - KNOWN_EDGES
    assert not wrong, "imports against the layers (docs/architecture.md):\n" + "\n".join(
        f"  {module} ({layer_of(module)}) imports {target} ({layer_of(target)})" for module, target in sorted(wrong))


def test_known_exceptions_are_still_needed():
    stale = KNOWN_EDGES - _wrong_way()
    assert not stale, f"fixed, so remove from KNOWN_EDGES: {sorted(stale)}"


def test_no_module_cycle():
    assert _cycles(GRAPH) == []


def test_no_package_cycle():
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        for target in targets:
            if package_of(module) != package_of(target):
                packages[package_of(module)].add(package_of(target))
    cycles = {frozenset(c) for c in _cycles(packages)}
    assert cycles - KNOWN_PACKAGE_CYCLES == set()
    assert KNOWN_PACKAGE_CYCLES - cycles == set(), "fixed, so remove from KNOWN_PACKAGE_CYCLES"


@pytest.mark.parametrize("source, expected", [
    ("import wfm.engine\n", {"wfm.engine"}),
    ("from wfm import engine\n", {"wfm.engine"}),
    ("def f():\n    from wfm.eventlog.chain import canonical_ts\n", {"wfm.eventlog.chain"}),
    ("from .chain import canonical_ts\n", {"wfm.eventlog.chain"}),
])
def test_the_walk_sees_every_kind_of_import(tmp_path, source, expected):
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert _imports("wfm.eventlog.probe", path) == expected


def test_a_wrong_way_import_is_caught():
    assert "engine" not in MAY_IMPORT[layer_of("wfm.runtime")] and layer_of("wfm.engine") == "engine"
    assert "web" not in MAY_IMPORT[layer_of("dashboard.app")]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
