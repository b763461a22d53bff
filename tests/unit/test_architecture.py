"""The design card's rules, read from the source: who may import whom.

- the domain imports nothing from dagster, openlineage or dependency_injector, nor from the
  other folders;
- the container (`app/container.py`) is the only module outside `adapters/` that imports an
  adapter: entry points and the use case see ports;
- no import cycle between modules, nor between folders (entry -> app -> adapters -> domain).
"""

from __future__ import annotations

import ast
from pathlib import Path

import ol_dagster

PACKAGE = Path(ol_dagster.__file__).parent
CONTAINER = "ol_dagster.app.container"
LIBRARIES = ("dagster", "openlineage", "dependency_injector")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module of the package and what it imports (type-checking-only imports too)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[_module_name(path)] = names
    return found


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else module


def test_the_domain_imports_no_library_and_no_other_folder() -> None:
    for module, names in _imports().items():
        if _folder(module) != "domain":
            continue
        wrong = {
            n
            for n in names
            if n.split(".")[0] in LIBRARIES
            or (n.startswith("ol_dagster.") and _folder(n) != "domain")
        }
        assert not wrong, f"{module} imports {sorted(wrong)}"


def test_only_the_container_names_concrete_adapters() -> None:
    for module, names in _imports().items():
        if _folder(module) == "adapters" or module == CONTAINER:
            continue
        adapters = sorted(n for n in names if n.startswith("ol_dagster.adapters"))
        assert not adapters, f"{module} imports {adapters}: ask the container for them"


def test_no_import_cycle_between_modules_or_folders() -> None:
    imports = _imports()
    graph = {m: {n for n in names if n in imports and n != m} for m, names in imports.items()}

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        return seen

    cycles = sorted(m for m in graph if m in reachable(m))
    assert not cycles, f"modules in an import cycle: {cycles}"
    folders = {(_folder(a), _folder(b)) for a, bs in graph.items() for b in bs}
    crossing = {(a, b) for a, b in folders if a != b}
    both_ways = sorted((a, b) for a, b in crossing if (b, a) in crossing)
    assert not both_ways, f"folders that import each other: {both_ways}"
