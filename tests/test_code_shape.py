"""The shape the code keeps: short functions and classes, no import cycles, no probing of backends.

A longer function or class is allowed when the line before its `def`/`class` says why it cannot split
(a comment starting with `# long:`)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workbench"
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 200


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py")) + [ROOT / "app.py"]


def _excused(lines: list[str], node: ast.AST) -> bool:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first >= 2 and lines[first - 2].strip().startswith("# long:")


def _too_long() -> list[str]:
    found = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                limit = MAX_FUNCTION_LINES
            elif isinstance(node, ast.ClassDef):
                limit = MAX_CLASS_LINES
            else:
                continue
            length = node.end_lineno - node.lineno + 1
            if length > limit and not _excused(lines, node):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} is {length} lines (> {limit})")
    return found


def test_no_function_over_60_lines_and_no_class_over_200():
    assert _too_long() == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    """Modules of workbench this file imports, anywhere in it except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("workbench")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("workbench"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names}
    return found


def _import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        # Importing a submodule runs its package's __init__ first, but an __init__ that only maps names lazily
        # (workbench/__init__.py) is not a dependency: count the modules named, not their parents.
        graph[name] = {t for t in _imports(path, name) if t in paths and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_import_cycle_inside_workbench():
    """Deferred imports inside functions count too: a cycle hidden in a function is still a cycle."""
    assert _cycles(_import_graph()) == []


def test_the_engine_never_probes_a_backend_for_methods():
    offenders = []
    for path in _sources():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"\b(has|get)attr\((self\.)?backend\b", line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []
