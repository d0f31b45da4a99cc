"""The Python API reference, generated from whatever modules exist at build time.

The package list is fixed (``pyproject.toml``); the modules inside each package are
discovered, so a module added by any part of the project appears in the reference
without editing the docs. A module that cannot be imported on the build machine is
listed with the reason instead of failing the build.
"""

from __future__ import annotations

import importlib
import pkgutil

from docsgen_common import Output, md_escape

PACKAGES = [
    ("alexnet", "The import root: the CLI, the error types and the docs builder."),
    ("alexnet.original", "The 2012 system re-created: cfg language, engine, data, checkpoints."),
    ("alexnet.modern", "The PyTorch port."),
    ("alexnet.cuda", "The cuda-convnet kernels: one source, two hosts."),
    ("alexnet.verify", "The equivalence verifier."),
]
SKIP = {"cli"}  # click commands are documented on the CLI page


def modules_of(package: str) -> tuple[list[str], dict[str, str]]:
    """(importable module names, {unimportable module: reason}) inside ``package``."""
    try:
        pkg = importlib.import_module(package)
    except Exception as exc:
        return [], {package: f"{type(exc).__name__}: {exc}"}
    names, broken = [], {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.ispkg or info.name.startswith("_") or info.name in SKIP:
            continue
        full = f"{package}.{info.name}"
        try:
            importlib.import_module(full)
        except Exception as exc:
            broken[full] = f"{type(exc).__name__}: {exc}"
            continue
        names.append(full)
    return names, broken


def generate(out: Output) -> None:
    parts: list[str] = []
    for package, blurb in PACKAGES:
        names, broken = modules_of(package)
        parts.append(f"## `{package}`\n\n{blurb}\n")
        if package in broken:
            parts.append(f":::{{note}}\n**Not importable on this build:** "
                         f"{md_escape(broken[package])}\n:::\n")
            continue
        parts.append("```{eval-rst}\n.. automodule:: " + package + "\n   :no-members:\n```\n")
        if not names and not broken:
            parts.append("*No modules yet.*\n")
        for name in names:
            parts.append(f"### `{name}`\n")
            parts.append("```{eval-rst}\n.. automodule:: " + name + "\n```\n")
        if broken:
            items = "\n".join(f"- `{n}`: {md_escape(r)}" for n, r in sorted(broken.items()))
            parts.append(f":::{{note}}\n**Not importable on this build:**\n\n{items}\n:::\n")
    out.write_text("fragments/api-modules.md", "\n".join(parts))
