"""The house rules of the code base, checked by reading every module's imports.

Each package (the root ``alexnet`` with its pipeline, ``original``, ``modern``, ``verify``,
``cuda``) talks to the others only through public names. A module that reaches into
another package's ``_private`` objects, or assigns to an attribute of another package's
object (patching it at run time), couples the two invisibly: a harmless refactor of one
silently changes what the other does. That is how the verifier once proved less than it
claimed, so the rule is a test. Import cycles (imports inside functions included) are
refused for the same reason: they hide which module depends on which.
"""

from __future__ import annotations

import ast
import graphlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _package_dirs() -> dict[str, Path]:
    """Import name -> folder, as pyproject.toml maps them (one import root, many folders)."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: ROOT / folder for name, folder in conf["package-dir"].items()}


def _modules() -> dict[str, Path]:
    """Every module of the distribution by its dotted name."""
    found: dict[str, Path] = {}
    dirs = _package_dirs()
    for pkg, folder in dirs.items():
        for path in folder.glob("*.py"):
            name = pkg if path.stem == "__init__" else f"{pkg}.{path.stem}"
            found[name] = path
        for sub in folder.iterdir():
            # subfolders that are packages but not mapped explicitly (alexnet.pipeline)
            qual = f"{pkg}.{sub.name}"
            if sub.is_dir() and (sub / "__init__.py").exists() and qual not in dirs:
                for path in sub.glob("*.py"):
                    found[qual if path.stem == "__init__" else f"{qual}.{path.stem}"] = path
    return found


def _owner(module: str) -> str:
    """The package a module belongs to for these rules (alexnet.original.museum -> original)."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in {"original", "modern", "verify", "cuda"}:
        return parts[1]
    return "alexnet"


def _imports(tree: ast.AST, modules: dict[str, Path]) -> list[tuple[int, str, str | None, str]]:
    """(line, module imported, name imported or None, local binding) for project imports."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "alexnet" or node.module.startswith("alexnet.")):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                target = full if full in modules else node.module
                name = None if full in modules else alias.name
                out.append((node.lineno, target, name, alias.asname or alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    out.append((node.lineno, alias.name, None,
                                alias.asname or alias.name.split(".")[0]))
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_reaches_into_another_packages_private_names() -> None:
    modules = _modules()
    problems: list[str] = []
    for mod, path in sorted(modules.items()):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        foreign: set[str] = set()  # local names bound to another package's objects
        for line, target, name, binding in _imports(tree, modules):
            if _owner(target) == _owner(mod):
                continue
            if name is not None and _private(name):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {target}.{name}")
            foreign.add(binding)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in foreign):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if _private(node.attr):
                problems.append(f"{where} uses {node.value.id}.{node.attr}")
            elif isinstance(node.ctx, ast.Store | ast.Del):
                problems.append(f"{where} assigns {node.value.id}.{node.attr} (patching)")
    assert not problems, "\n".join(problems)


def test_no_import_cycles() -> None:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[mod] = {target for _line, target, _n, _b in _imports(tree, modules)
                      if target != mod}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail("import cycle: " + " -> ".join(exc.args[1]))


def test_every_module_is_seen() -> None:
    """The walk above must cover the packages it claims to (a guard against a silent no-op)."""
    modules = _modules()
    for expected in ("alexnet.cli", "alexnet.original.engine", "alexnet.modern.net2012",
                     "alexnet.verify.runner", "alexnet.cuda.build", "alexnet.pipeline.cli",
                     "alexnet.original.museum.tour_view"):
        assert expected in modules
