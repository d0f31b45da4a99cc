"""Parts of the guides that come from the project rather than from prose.

* the expected output of ``alexnet original fetch`` (numbers from the manifest);
* the verifier's command line (its ``--help``), once the command is registered;
* the pipeline stages of ``dvc.yaml``, once it exists;
* the metrics of the bundled runs (``verify/bundled/*metrics*.json``);
* every CIFAR-10 net's recorded runs over seeds (``benchmarks/results/*-seeds.json``);
* the verifier's tolerance table, read from the module that defines it.
"""

from __future__ import annotations

import importlib
import json

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
    result = CliRunner().invoke(cli, ["verify", "--help"], prog_name="alexnet",
                                terminal_width=88)
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


def tolerances() -> str:
    """The verifier's own statement of its policy, and what it means in numbers."""
    try:
        policy = importlib.import_module("alexnet.verify.policy")
    except ImportError:
        return not_available(
            "the verifier's tolerance policy.",
            "It is read from the verifier's code (`alexnet.verify.policy`), which this "
            "checkout does not have yet.",
        )
    parts = ["The policy as the verifier's code states it (the docstring of "
             "{py:mod}`alexnet.verify.policy`, shown here as written):\n",
             "```{eval-rst}\n.. automodule:: alexnet.verify.policy\n   :no-members:\n"
             "   :no-index:\n```\n"]
    tol = getattr(policy, "tolerance", None)
    if callable(tol):
        rows = []
        for terms, example in ((1, "a single rounding"),
                               (363, "conv1 of AlexNet2012: 3 x 11 x 11 products per output"),
                               (9216, "fc6: 6 x 6 x 256 inputs"),
                               (100_000, "a deep gradient path")):
            rows.append([fmt_int(terms), md_escape(example), f"{tol(terms):.2e}"])
        parts.append("What the formula allows, computed with "
                     f"{code('alexnet.verify.policy.tolerance')} at build time:\n\n"
                     + md_table(["terms", "for example", "relative tolerance"], rows,
                                align="rlr"))
    try:
        faults = importlib.import_module("alexnet.verify.faults").FAULTS
    except (ImportError, AttributeError):
        faults = {}
    if faults:
        rows = [[code(name), md_escape(f.description),
                 ", ".join(f"{code(s)}: {code(layer)} {kind}"
                           for s, (layer, kind) in f.expect.items())]
                for name, f in faults.items()]
        parts.append("\nThe faults `alexnet verify --self-test` plants, one at a time, and "
                     "where each must be caught first (read from "
                     f"{code('alexnet.verify.faults.FAULTS')}):\n\n"
                     + md_table(["fault", "what is wrong", "first failing check per suite"],
                                rows))
    return "\n".join(parts)


def recorded_seeds() -> str:
    """Every CIFAR-10 net's recorded runs over seeds: the report's own section, rendered
    from ``benchmarks/results/<net>-seeds.json`` (one renderer, one set of files)."""
    try:
        report = importlib.import_module("alexnet.pipeline.report")
    except ImportError:
        return not_available("the recorded runs over seeds.",
                             "They are rendered by `alexnet.pipeline.report`.")
    blocks = report.recorded_section(ROOT / "benchmarks" / "results")
    # the report names the folder it was given; here, the repository's
    text = report.render_markdown(blocks[1:])
    return text.replace(f"`{ROOT / 'benchmarks' / 'results'}/`", "`benchmarks/results/`")


def generate(out: Output) -> None:
    for name, func in (
        ("guide-fetch.md", fetch_output),
        ("guide-verify-command.md", verify_command),
        ("guide-pipeline.md", pipeline),
        ("bundled-metrics.md", bundled_metrics),
        ("recorded-seeds.md", recorded_seeds),
        ("verify-tolerances.md", tolerances),
    ):
        out.write_text(f"fragments/{name}", func())
