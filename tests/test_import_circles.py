"""No import circle: within theory/, sim/, figures/ and weakstrong/, each module's imports of its siblings, and
across the whole llm/ tree (its rooms import one another absolutely), at module level or inside functions,
form a graph without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = {"theory": "weakstrong.theory", "theory/gain": "weakstrong.theory.gain", "sim": "weakstrong.sim",
            "figures": "weakstrong.figures",
            "weakstrong": "weakstrong"}


def sibling_imports(folder: Path, package: str) -> dict[str, set[str]]:
    modules = {p.stem for p in folder.glob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for m in modules:
        for node in ast.walk(ast.parse((folder / f"{m}.py").read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 1:
                names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            elif node.level == 0 and node.module and node.module.startswith(package + "."):
                names = [node.module[len(package) + 1:].split(".")[0]]
            else:
                names = []
            edges[m] |= {n for n in names if n in modules and n != m}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    return found


def llm_imports() -> dict[str, set[str]]:
    """The import graph of every module under llm/, by dotted name (``weakstrong.llm.models.registry``)."""
    root = ROOT / "llm"
    names = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        names[".".join(("weakstrong", "llm") + (parts[:-1] if parts[-1] == "__init__" else parts))] = path
    edges: dict[str, set[str]] = {n: set() for n in names}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            for candidate in [target] + [f"{target}.{a.name}" for a in node.names]:
                if candidate in names and candidate != name:
                    edges[name].add(candidate)
    return edges


def test_no_import_circle_across_the_llm_rooms():
    edges = llm_imports()
    assert len(edges) > 40 and cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("folder", sorted(PACKAGES))
def test_no_import_circle(folder):
    assert cycles(sibling_imports(ROOT / folder, PACKAGES[folder])) == []
