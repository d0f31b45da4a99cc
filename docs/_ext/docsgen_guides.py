"""Parts of the guides that come from the project rather than from prose.

* the expected output of ``alexnet original fetch`` (numbers from the manifest);
* the verifier's command line (its ``--help``), once the command is registered;
* the pipeline stages of ``dvc.yaml``, once it exists;
* the metrics of the bundled runs (``verify/bundled/*metrics*.json``);
* the verifier's tolerance table, read from the module that defines it.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

import yaml
from docsgen_common import (
    ROOT,
    Output,
    code,
    fence,
    fmt_int,
    md_escape,
    md_table,
    not_available,
)
from docsgen_reports import BUNDLED, render_report


def fetch_output() -> str:
    raw = json.loads((ROOT / "original" / "UPSTREAM.json").read_text(encoding="utf-8"))
    files = raw.get("files", [])
    total = sum(int(f.get("size", 0)) for f in files)
    text = (
        f"verified {len(files)} files ({total:,} bytes) of {raw['repository']} "
        f"at commit {raw['commit'][:8]}\n"
        f"upstream copy: ~/.cache/alexnet/upstream/{raw['commit']}\n"
        "next: alexnet tour --tour\n"
    )
    return "A successful first fetch ends like this (numbers from the manifest):\n\n" + fence(
        text, "text"
    )


def verify_command() -> str:
    from click.testing import CliRunner

    from alexnet.cli import COMMANDS, cli

    if "verify" not in COMMANDS:
        return not_available(
            "the verifier's command line.",
            "The `alexnet verify` command is not registered in this checkout yet.",
        )
    result = CliRunner().invoke(cli, ["verify", "--help"], terminal_width=88)
    if result.exit_code != 0:
        return not_available("the verifier's command line.",
                             f"`alexnet verify --help` failed on this build: "
                             f"{md_escape(str(result.exception))}")
    return ("```sh\nalexnet verify\n```\n\nIts options, as `alexnet verify --help` prints "
            "them:\n\n" + fence(result.output, "text"))


def pipeline() -> str:
    path = ROOT / "dvc.yaml"
    if not path.is_file():
        return not_available(
            "the pipeline.",
            "The stages (fetch, prepare, train, evaluate, verify, report) will be listed "
            "here from `dvc.yaml` once it exists; until then, run the steps above by hand.",
        )
    stages = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stages", {})
    rows = []
    for name, st in stages.items():
        cmd = st.get("cmd", "")
        cmd = " && ".join(cmd) if isinstance(cmd, list) else str(cmd)
        outs = ", ".join(code(next(iter(o)) if isinstance(o, dict) else o)
                         for o in st.get("outs", []) or [])
        rows.append([code(name), md_escape(st.get("desc", "")), code(cmd), outs])
    return ("`dvc repro` runs the stages of `dvc.yaml` in order and skips those whose "
            "inputs and parameters have not changed. Read from `dvc.yaml` at build time:\n\n"
            + md_table(["stage", "what it does", "command", "outputs"], rows))


def bundled_metrics() -> str:
    files = sorted(BUNDLED.glob("*metrics*.json")) if BUNDLED.is_dir() else []
    if not files:
        return not_available(
            "the bundled runs' metrics.",
            "They are read from `verify/bundled/*metrics*.json`, which this checkout does "
            "not have yet; your own runs write `runs/NAME/metrics.json`.",
        )
    return "\n".join(render_report(json.loads(f.read_text(encoding="utf-8")), f.name)
                     for f in files)


def _find_tolerances() -> tuple[str, Any] | None:
    try:
        pkg = importlib.import_module("alexnet.verify")
    except ImportError:
        return None
    for info in pkgutil.iter_modules(pkg.__path__):
        try:
            mod = importlib.import_module(f"alexnet.verify.{info.name}")
        except Exception:
            continue
        for attr in ("TOLERANCES", "DEFAULT_TOLERANCES"):
            value = getattr(mod, attr, None)
            if isinstance(value, dict) and value:
                return f"alexnet.verify.{info.name}.{attr}", value
    return None


def tolerances() -> str:
    found = _find_tolerances()
    if found is None:
        return not_available(
            "the table of tolerances.",
            "It is read from the verifier's code (`alexnet.verify`), which does not define "
            "it yet in this checkout.",
        )
    name, table = found
    rows = []
    for key, value in table.items():
        if isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, int | float):
            shown = f"{value:g}" if isinstance(value, float) else fmt_int(value)
        else:
            shown = str(value)
        rows.append([f"{code(key)}", md_escape(shown)])
    return f"The tolerances in force, read from `{name}`:\n\n" + md_table(
        ["what", "tolerance"], rows)


def generate(out: Output) -> None:
    for name, func in (
        ("guide-fetch.md", fetch_output),
        ("guide-verify-command.md", verify_command),
        ("guide-pipeline.md", pipeline),
        ("bundled-metrics.md", bundled_metrics),
        ("verify-tolerances.md", tolerances),
    ):
        out.write_text(f"fragments/{name}", func())
