"""The floor plan holds: imports point down only (ARCHITECTURE.md), and no modules import each
other in a circle. Read from the source (every import, at module level or inside a function),
so a new arrow that runs back up fails here before anyone has to find it in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("generation", "ranker", "toppass_ls", "train")

# What each package or room may import, beside itself (prefix match on module names).
ALLOWED: dict[str, tuple[str, ...]] = {
    "toppass_ls": ("ranker", "generation"),
    "train": ("ranker", "generation"),
    "generation": ("ranker.local_models",),
    "ranker": (),  # refined per room below
}
RANKER_ROOMS: dict[str, tuple[str, ...]] = {
    "ranker.source": (),
    "ranker.sandbox": (),
    "ranker.cache": (),
    "ranker.local_models": ("ranker.cache",),
    "ranker.version": (),
    "ranker.lazy": (),
    "ranker.signals.types": (),
    "ranker.feedback": ("ranker.signals.types",),
    "ranker.examples": ("ranker.source",),
    "ranker.candidates": ("ranker.source",),
    "ranker.signals": (
        "ranker.source",
        "ranker.examples",
        "ranker.sandbox",
        "ranker.local_models",
        "ranker.signals.types",
    ),
    "ranker.order": ("ranker.signals.types",),
    "ranker.model": (
        "ranker.order",
        "ranker.signals.types",
        "ranker.signals.defects",
        "ranker.local_models",
        "ranker.source",
        "ranker.lazy",
    ),
    "ranker.offer": ("ranker",),  # the top of ranker: may use every room
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The project modules `path` imports (absolute imports of the four packages); `from
    package import submodule` imports the submodule."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*submodule.split("."))).with_suffix(".py").is_file()
                found.add(submodule if is_module else node.module)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def project_modules() -> dict[str, set[str]]:
    return {
        module_name(path): imports_of(path)
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def owner(module: str, table: dict[str, tuple[str, ...]]) -> str | None:
    """The longest key of `table` that `module` is, or lies inside."""
    keys = [key for key in table if module == key or module.startswith(key + ".")]
    return max(keys, key=len) if keys else None


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_packages_import_only_what_lies_below_them() -> None:
    wrong = []
    for module, imported in project_modules().items():
        package = module.split(".")[0]
        for target in imported:
            if target.split(".")[0] != package and not within(target, ALLOWED[package]):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports that run back up: " + ", ".join(sorted(wrong))


def test_ranker_rooms_import_only_the_rooms_below_them() -> None:
    wrong = []
    for module, imported in project_modules().items():
        if not module.startswith("ranker.") and module != "ranker":
            continue
        room = owner(module, RANKER_ROOMS)
        if room is None:
            continue  # ranker/__init__ re-exports lazily
        for target in imported:
            if not target.startswith("ranker") or owner(target, RANKER_ROOMS) == room:
                continue
            if not within(target, RANKER_ROOMS[room]):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "ranker rooms importing upwards: " + ", ".join(sorted(wrong))


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph = project_modules()
    # `from ranker.source import x` names the package; its __init__ is a module too
    edges = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            cycle = visit(start)
            assert cycle is None, "import circle: " + " -> ".join(cycle)


@pytest.mark.parametrize("package", ["ranker", "ranker.model", "ranker.source", "generation"])
def test_importing_a_package_does_not_load_torch(package: str) -> None:
    import subprocess
    import sys

    code = f"import sys, {package}; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "False"


def test_the_wheel_check_imports_what_exists() -> None:
    """.ci/check-wheel runs only in CI, after the suite: a module it imports that a move renamed
    would turn CI red with every test green. Its Python lines are checked here instead."""
    import importlib
    import re

    script = (ROOT / ".ci" / "check-wheel").read_text()
    found = re.findall(r"^from ([\w.]+) import ([\w, ]+)$", script, flags=re.MULTILINE)
    assert found, "no imports found in .ci/check-wheel: the pattern above is out of date"
    for module_path, names in found:
        module = importlib.import_module(module_path)
        for name in names.split(","):
            assert hasattr(module, name.strip()), f"{module_path} has no {name.strip()}"
