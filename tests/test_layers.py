"""The package's layers: import circles inside ``ssmlab`` and who imports moto.

Read from the source with ``ast`` (every import, at module level or inside a function,
because a lazy import only hides a circle). Both lists below may only shrink: a new
circle or a new module importing moto fails, and so does a stale entry once fixed.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ssmlab"

# Import circles, each the set of modules in one strongly connected component of the
# import graph. None is left: shared state sits one layer down (simulation/world.py: the
# SSM settings the agent reads, the in-process lab diagnostics asks), replay holds what
# start() refuses, and the instance's programs answer in simulation/shell_result.py.
KNOWN_CIRCLES: list[set[str]] = []

# Modules that import moto: only the boundary (docs/aws-facts.md#one-moto-boundary).
MOTO_IMPORTERS = {"ssmlab.simulation._moto"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(ssmlab modules imported, top-level external packages imported) by one module."""
    inner, outer = set(), set()
    package = name if _is_package(name) else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (inner if alias.name.split(".")[0] == "ssmlab" else outer).add(
                    alias.name if alias.name.startswith("ssmlab") else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("ssmlab"):
                outer.add(target.split(".")[0])
                continue
            for alias in node.names:  # `from . import agent` imports the module agent
                sub = f"{target}.{alias.name}"
                inner.add(sub if sub in MODULES else target)
    return {m for m in inner if m in MODULES and m != name}, outer


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _circles() -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(GRAPH[node][0]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(component)

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    return result


def test_no_import_circle():
    assert _circles() == [], "an import circle inside ssmlab"
    circles = _circles()
    for circle in circles:
        assert any(circle <= known for known in KNOWN_CIRCLES), (
            f"a new import circle inside ssmlab: {sorted(circle)}"
        )


def test_known_circles_are_still_there():
    """A circle that is fixed leaves KNOWN_CIRCLES too, so the list only shrinks."""
    circles = _circles()
    for known in KNOWN_CIRCLES:
        assert any(circle == known for circle in circles), (
            f"the known circle {sorted(known)} changed to {[sorted(c) for c in circles]}: update KNOWN_CIRCLES"
        )


def test_the_set_of_modules_importing_moto_does_not_grow():
    importers = {name for name, (_, outer) in GRAPH.items() if "moto" in outer}
    assert importers <= MOTO_IMPORTERS, f"new modules import moto: {sorted(importers - MOTO_IMPORTERS)}"
    assert importers == MOTO_IMPORTERS, f"no longer import moto, remove them: {sorted(MOTO_IMPORTERS - importers)}"


def test_the_policy_evaluator_reaches_moto_only_through_the_boundary():
    _, outer = GRAPH["ssmlab.simulation.policy"]
    assert "moto" not in outer and "botocore" not in outer
    for name in ("ssmlab.widgets.lab_map", "ssmlab.checks", "ssmlab.checks_ssm"):
        assert "moto" not in GRAPH[name][1], name


def test_the_graph_reads_the_imports_it_should():
    # A control: the reader sees relative, lazy and `from . import x` imports.
    assert "ssmlab.replay" in GRAPH["ssmlab.lab"][0]  # lazy, inside _start_aws()
    assert "ssmlab.simulation.policy" in GRAPH["ssmlab.simulation.agent"][0]  # from . import _moto, policy
    assert "ssmlab.simulation.policy" in GRAPH["ssmlab.widgets.lab_map"][0]  # from ..simulation import policy
