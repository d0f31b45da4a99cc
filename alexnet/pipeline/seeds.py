"""Error bars: many seeded runs of one recipe, summarised per data order.

One run gives one number; whether a reproduction "agrees" with a reported figure
depends on how far runs with other seeds scatter. This module reads finished run
folders of ``alexnet train`` (or a results file listing runs), groups them by data order
(``shuffle``: ``once`` is the 2011 order, one fixed permutation read the same way every
epoch; ``epoch`` draws a new permutation every epoch) and writes ``seeds.json`` and
``seeds.md``: every run, the mean and the *sample* standard deviation (n - 1 in the
denominator, since the seeds are a sample of all seeds), the figure reported for the
network (from :mod:`alexnet.registry`) and one sentence saying whether that figure lies
inside mean +- 2 std.

A run that did not finish, or whose error is not a finite number, is listed but never
averaged; an order with fewer than two usable runs gets no spread (a single run has
none), so no band can look narrow because runs were missing.

In the pipeline, dvc.yaml's ``sweep`` matrix stage trains one run folder per (data
order, seed) of params.yaml's ``sweep`` section, named by :func:`run_name` under
``runs/sweep/`` (:func:`sweep_run`), and the ``seeds`` stage summarises exactly the runs
that section lists (:func:`sweep_records`), so a folder left over from an earlier seed
list never enters the mean.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from alexnet.errors import ConfigError, DataError
from alexnet.io import atomic_write_text
from alexnet.pipeline.jsonfiles import write_json
from alexnet.pipeline.params import Profile, Sweep
from alexnet.pipeline.train import train_stage
from alexnet.registry import reported_summary

#: The band rule: the reported figure "agrees" when it lies within this many sample
#: standard deviations of the mean of the seeded runs.
BAND_STDS = 2.0
BAND_RULE = f"reported figure within mean +- {BAND_STDS:g} sample std (n-1)"
ORDER_NAMES = {"once": "2011 order (one fixed permutation, same every epoch)",
               "epoch": "reshuffled every epoch", "none": "file order"}


#: status of a sweep folder whose profile has ``sweep: false`` (nothing trained)
NOT_SWEPT = "not-swept"


def run_name(shuffle: str, seed: int) -> str:
    """The sweep folder of one run (dvc.yaml's ``sweep`` outs spell the same pattern)."""
    return f"{shuffle}-seed{seed}"


def sweep_run(profile: Profile, sweep: Sweep, seed: int, shuffle: str,
              fetched: str | Path, out: str | Path, *, progress: bool = True,
              echo=click.echo) -> dict[str, Any]:
    """One run of the sweep: the profile's training with this seed and data order.

    For a profile whose ``sweep`` is false nothing is trained: ``out`` gets a
    ``metrics.json`` saying so (DVC needs the stage's output), and the summary reports
    "not swept" instead of a spread.
    """
    out = Path(out)
    if (shuffle, seed) not in sweep.runs():
        raise ConfigError(f"{run_name(shuffle, seed)} is not a run of params' sweep "
                          f"(seeds {list(sweep.seeds)}, shuffle {list(sweep.shuffle)})",
                          path=profile.params_path, key="sweep")
    if not profile.sweep:
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        write_json(out / "metrics.json", {
            "status": NOT_SWEPT, "profile": profile.name,
            "config": {"arch": profile.train.get("arch"), "seed": seed, "shuffle": shuffle},
            "why": f"profile {profile.name!r} has sweep: false"})
        echo(f"{out}: {profile.name} has `sweep: false`; nothing trained")
        return {"status": NOT_SWEPT}
    return train_stage(profile, fetched, out, progress=progress, seed=seed,
                       shuffle=shuffle, summaries=False, echo=echo)


def sweep_records(root: str | Path, sweep: Sweep) -> list[dict[str, Any]]:
    """The records of the runs the sweep section lists (a missing folder is "missing")."""
    records = []
    for shuffle, seed in sweep.runs():
        d = Path(root) / run_name(shuffle, seed)
        if not (d / "metrics.json").exists():
            records.append({"run": str(d), "seed": seed, "shuffle": shuffle,
                            "status": "missing", "top1_err": None})
            continue
        r = read_run(d)
        if (r["seed"], r["shuffle"]) != (seed, shuffle) and r["status"] != NOT_SWEPT:
            raise DataError(f"{d}/metrics.json: a run of seed {r['seed']}, shuffle "
                            f"{r['shuffle']}; expected seed {seed}, shuffle {shuffle}")
        records.append(r)
    return records


def metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """Flat per-order figures for ``dvc metrics show`` (``runs/pipeline/metrics/seeds.json``)."""
    return {"arch": summary["arch"], "reported_top1_err": summary["reported_top1_err"],
            **{order: {k: e[k] for k in ("n", "mean", "std", "inside")}
               for order, e in summary["orders"].items()}}


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """One run folder's record: seed, data order, final top-1 error, status."""
    path = Path(run_dir) / "metrics.json"
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror}); expected a run folder of "
                        "`alexnet train`") from None
    except ValueError:
        raise DataError(f"{path}: not valid JSON; expected a run's metrics.json") from None
    if not isinstance(m, dict) or not isinstance(m.get("config"), dict):
        raise DataError(f"{path}: no `config` mapping; expected a run's metrics.json")
    cfg = m["config"]
    final = m.get("final") if isinstance(m.get("final"), dict) else {}
    rows = [e for e in m.get("epochs") or [] if isinstance(e, dict)]
    record = {"run": str(run_dir), "arch": cfg.get("arch"), "seed": cfg.get("seed"),
              "shuffle": cfg.get("shuffle"), "epochs": cfg.get("epochs"),
              "top1_err": final.get("top1_err"), "views": final.get("views"),
              "wall_s": m.get("wall_s"), "status": m.get("status")}
    if m.get("status") != "finished" and rows:
        # how far an unfinished run got (never averaged: see usable)
        record["epochs_done"] = len(rows)
        record["last_test_top1_err"] = rows[-1].get("test_top1_err")
    return record


def read_results(path: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Runs listed in a results file (``{"runs": [{seed, shuffle, top1_err, status}]}``,
    as in ``benchmarks/results/``) and the file's other keys (what, command, machine)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror})") from None
    except ValueError:
        raise DataError(f"{p}: not valid JSON; expected a results file with `runs`") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise DataError(f"{p}: expected a mapping with a `runs` list")
    for i, r in enumerate(data["runs"]):
        if not isinstance(r, dict) or "seed" not in r or "shuffle" not in r:
            raise DataError(f"{p}: runs[{i}] needs `seed` and `shuffle`")
    meta = {k: v for k, v in data.items() if k != "runs"}
    return [dict(r) for r in data["runs"]], meta


def usable(run: dict[str, Any]) -> bool:
    """Finished, with a finite error: the only runs that enter a mean."""
    err = run.get("top1_err")
    return (run.get("status") == "finished" and isinstance(err, int | float)
            and not isinstance(err, bool) and math.isfinite(err))


def summarise(runs: Iterable[dict[str, Any]], arch: str) -> dict[str, Any]:
    """Per data order: n, mean, sample std, and the reported figure's place in the band."""
    runs = list(runs)
    if not runs:
        raise ConfigError("no runs to summarise; expected at least one finished run")
    if all(r.get("status") == NOT_SWEPT for r in runs):
        return {"arch": arch, "reported_top1_err": reported_summary(arch).get("top1_err"),
                "band_rule": BAND_RULE, "runs": runs, "orders": {}, "not_swept": True}
    reported = reported_summary(arch).get("top1_err")
    orders: dict[str, Any] = {}
    for order in dict.fromkeys(str(r.get("shuffle")) for r in runs):
        errs = [float(r["top1_err"]) for r in runs if str(r.get("shuffle")) == order
                and usable(r)]
        entry: dict[str, Any] = {"order": ORDER_NAMES.get(order, order), "n": len(errs),
                                 "mean": None, "std": None, "band": None, "inside": None}
        if errs:
            entry["mean"] = statistics.fmean(errs)
        if len(errs) >= 2:
            std = statistics.stdev(errs)
            entry["std"] = std
            entry["band"] = [entry["mean"] - BAND_STDS * std, entry["mean"] + BAND_STDS * std]
            if reported is not None:
                entry["inside"] = entry["band"][0] <= reported <= entry["band"][1]
        entry["verdict"] = verdict(entry, reported)
        orders[order] = entry
    return {"arch": arch, "reported_top1_err": reported,
            "band_rule": BAND_RULE,
            "runs": runs, "orders": orders}


def verdict(entry: dict[str, Any], reported: float | None) -> str:
    """One plain sentence about the reported figure and the seeded runs' band."""
    if reported is None:
        return "No figure is reported for this network, so there is nothing to compare."
    if entry["n"] == 0:
        return f"No finished run, so no verdict on the reported {100 * reported:.2f}%."
    if entry["std"] is None:
        return (f"Only {entry['n']} usable run(s): no spread, so no verdict on the reported "
                f"{100 * reported:.2f}%.")
    lo, hi = entry["band"]
    where = "lies inside" if entry["inside"] else "lies outside"
    return (f"The reported {100 * reported:.2f}% {where} mean +- {BAND_STDS:g} std "
            f"({100 * lo:.2f}% to {100 * hi:.2f}%, n = {entry['n']}).")


def mean_std_text(entry: dict[str, Any]) -> str:
    """``27.22 ± 0.26%`` (or the mean alone, or ``-``): the report's and README's form."""
    if entry.get("mean") is None:
        return "-"
    if entry.get("std") is None:
        return f"{100 * entry['mean']:.2f}% (n = {entry['n']})"
    return f"{100 * entry['mean']:.2f} ± {100 * entry['std']:.2f}% (n = {entry['n']})"


NOT_SWEPT_TEXT = ("Not swept: this profile has `sweep: false` in params.yaml, so it has "
                  "one run and no error bars.")


def markdown(summary: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    """The human report of a summary."""
    rep = summary["reported_top1_err"]
    lines = [f"# {summary['arch']}: test error over seeds", ""]
    for k in ("what", "command", "machine"):
        if meta and meta.get(k):
            lines += [f"{k.capitalize()}: {meta[k]}", ""]
    if summary.get("not_swept"):
        return "\n".join(lines + [NOT_SWEPT_TEXT, ""])
    lines += [f"Reported: {'-' if rep is None else f'{100 * rep:.2f}%'}. Band rule: "
              f"{summary['band_rule']}.", "",
              "| data order | mean ± sample std | verdict |", "|---|---|---|"]
    for e in summary["orders"].values():
        lines.append(f"| {e['order']} | {mean_std_text(e)} | {e['verdict']} |")
    lines += ["", "| run | order | seed | status | top-1 error |", "|---|---|---|---|---|"]
    for r in summary["runs"]:
        err = f"{100 * r['top1_err']:.2f}%" if usable(r) else "not averaged"
        lines.append(f"| {r.get('run', '-')} | {r.get('shuffle')} | {r.get('seed')} | "
                     f"{r.get('status')} | {err} |")
    return "\n".join(lines) + "\n"


def write_summary(summary: dict[str, Any], out: str | Path,
                  meta: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """``seeds.json`` and ``seeds.md`` in ``out`` (each written atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    j, m = out / "seeds.json", out / "seeds.md"
    write_json(j, {**(meta or {}), **summary})
    atomic_write_text(m, markdown(summary, meta))
    return j, m
