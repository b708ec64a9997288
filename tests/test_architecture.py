"""The layout holds: no import circle anywhere in src/texnet (imports inside functions count) and small modules.

The layer contract itself (which package may import which) is import-linter's (.importlinter, `lint-imports`,
run by `make test`); this test catches what a layer contract cannot: circles among siblings, e.g. two apps.
"""
import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "texnet"
MAX_LINES = 400


def _module(path: Path) -> str:
    parts = ("texnet",) + path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph():
    """module -> texnet modules it imports (module-level or inside functions; `from pkg import mod` resolved)."""
    modules = {_module(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules] or [base]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target in modules and target != name and target != "texnet":
                    edges.add(target)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One import circle as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_import_circle_in_src():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_method_package_reads_no_config_and_no_file():
    """texnet.paper takes plain arguments: it imports nothing from config, io, render, train or apps."""
    graph = import_graph()
    banned = ("texnet.config", "texnet.render", "texnet.train", "texnet.apps", "texnet.checkpoints", "texnet.build")
    bad = {m: sorted(e for e in edges if e.startswith(banned)) for m, edges in graph.items()
           if m.startswith("texnet.paper")}
    assert not {m: e for m, e in bad.items() if e}


def test_old_module_paths_still_import_as_the_same_module():
    """One release of grace for code written against the flat layout: texnet.losses is texnet.paper.losses."""
    import importlib
    import sys

    import pytest

    import texnet.paper.losses as new

    sys.modules.pop("texnet.losses", None)
    with pytest.warns(DeprecationWarning, match="texnet.losses moved to texnet.paper.losses"):
        old = importlib.import_module("texnet.losses")
    assert old is new
    with pytest.warns(DeprecationWarning, match="moved to texnet.render.onnx"):
        from texnet.export import export_onnx  # noqa: F401
