"""Commands of the reproduction pipeline (dvc.yaml runs them; each also runs by hand).

``alexnet fetch``, ``alexnet prepare`` and ``alexnet report`` are top-level commands;
``alexnet pipeline train|evaluate|verify`` run the port's training, evaluation and the
verifier with a profile's settings from params.yaml (the plain ``alexnet train`` /
``evaluate`` / ``verify`` take options instead). All of them are thin: they parse
options and call the stage's module: :mod:`alexnet.pipeline.fetch`,
:mod:`alexnet.pipeline.prepare`, :mod:`alexnet.pipeline.train`,
:mod:`alexnet.pipeline.evaluate`, :mod:`alexnet.pipeline.verify` or
:mod:`alexnet.pipeline.report`.
"""

from __future__ import annotations

import click

from alexnet.cli import LazyGroup

_params_option = click.option(
    "--params", "params_path", default="params.yaml", show_default=True,
    type=click.Path(dir_okay=False), help="The pipeline's parameters file.")
_profile_option = click.option(
    "--profile", help="Profile in params.yaml (default: its `profile` key).")
_progress_option = click.option("--progress/--no-progress", default=True, show_default=True)


def _profile(params_path: str, profile: str | None):
    from alexnet.pipeline.params import resolve_profile

    return resolve_profile(params_path, profile)


@click.command()
@_params_option
@_profile_option
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for the verified files and sources.json.")
@click.option("--data-dir", default="data", show_default=True, type=click.Path(file_okay=False),
              help="Local inputs (pinned by data.dvc): files here are used before any download.")
@click.option("--mirror", help="Folder or base URL holding the files under their names "
              "(default: $ALEXNET_MIRROR, else params' `mirror`).")
@click.option("--source", help="Where to take the data set's main file from: a file, a "
              "folder holding it, or a URL. It is still checked against the pin.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
              help="Download cache (default $ALEXNET_CACHE/downloads, ~/.cache/alexnet).")
@click.option("--retries", type=int, default=3, show_default=True)
@_progress_option
def fetch(params_path: str, profile: str | None, out: str, data_dir: str, mirror: str | None,
          source: str | None, cache_dir: str | None, retries: int, progress: bool) -> None:
    """Fetch the profile's data set (and weights); check each file against its pin.

    Looks in --data-dir, the download cache, the mirror, then the canonical URL; resumes
    interrupted downloads; a file that does not match its checksum is deleted and the
    command stops with exit status 2.
    """
    from alexnet.pipeline.fetch import fetch as run

    prof = _profile(params_path, profile)
    m = run(prof, out, data_dir=data_dir, mirror=mirror, source=source, cache_dir=cache_dir,
            progress=progress, retries=retries)
    click.echo(f"{out}: {m['dataset']} ({m['source']}), {len(m['files'])} file(s)"
               + (f", {len(m['weights'])} weight file(s)" if m["weights"] else ""))


@click.command()
@_params_option
@_profile_option
@click.option("--fetched", default="runs/pipeline/fetch", show_default=True,
              type=click.Path(file_okay=False), help="Output folder of `alexnet fetch`.")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
              help="Decoded-image cache (default ~/.cache/alexnet or $ALEXNET_CACHE).")
@_progress_option
def prepare(params_path: str, profile: str | None, fetched: str, out: str,
            cache_dir: str | None, progress: bool) -> None:
    """Mean image, RGB PCA and the 2012 batch files of the fetched data set."""
    from alexnet.pipeline.prepare import prepare as run

    prof = _profile(params_path, profile)
    info = run(fetched, out, prof.prepare, params_path=params_path,
               key=f"profiles.{prof.name}.prepare", cache_dir=cache_dir, progress=progress)
    b = info.get("batches")
    stats = ("mean RGB " + ", ".join(f"{v:.1f}" for v in info["mean_rgb"])
             if "mean_rgb" in info else "no training-set statistics (no training split)")
    click.echo(f"{out}: {info['train_images']} training and {info['test_images']} test "
               f"images at {info['image_size']}x{info['image_size']}; {stats}"
               + (f"; 2012 batches {b['train_range']} (train), {b['test_range']} (test)"
                  if b else ""))


@click.command()
@_params_option
@_profile_option
@click.option("--pipeline", "pipeline_dir", default="runs/pipeline", show_default=True,
              type=click.Path(file_okay=False), help="The stages' output folder.")
@click.option("--out", default="runs/report", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--recorded", "recorded_dir", type=click.Path(exists=True, file_okay=False),
              help="Folder of recorded seeded runs (<arch>-seeds.json, as in "
              "benchmarks/results): adds every CIFAR-10 net's error bars to the report.")
def report(params_path: str, profile: str | None, pipeline_dir: str, out: str,
           recorded_dir: str | None) -> None:
    """Markdown + HTML report: reported vs reproduced, curves, filters, confusion."""
    from alexnet.pipeline.report import write_report

    prof = _profile(params_path, profile)
    paths = write_report(prof, pipeline_dir, out, recorded_dir=recorded_dir)
    click.echo("report: " + ", ".join(str(p) for p in paths))


# --------------------------------------------------------------------------------------
# alexnet pipeline ...


@click.command("train")
@_params_option
@_profile_option
@click.option("--fetched", default="runs/pipeline/fetch", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--out", default="runs/pipeline/train", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--max-steps", type=int, help="Stop (with a checkpoint) after N minibatches in "
              "all; the next run of the stage resumes.")
@_progress_option
def train_cmd(params_path: str, profile: str | None, fetched: str, out: str,
              max_steps: int | None, progress: bool) -> None:
    """Train with the profile's settings (resumes an interrupted run of the same settings)."""
    from alexnet.pipeline.train import train_stage

    s = train_stage(_profile(params_path, profile), fetched, out, progress=progress,
                    max_steps=max_steps)
    if s.get("test_top1_err") is not None:
        click.echo(f"{out}: test error top-1 {100 * s['test_top1_err']:.2f}% "
                   f"({s['test_views']} view(s)) after {s['epochs']} epochs, "
                   f"{s['wall_s']:.0f} s")


@click.command("evaluate")
@_params_option
@_profile_option
@click.option("--fetched", default="runs/pipeline/fetch", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--run", "run_dir", default="runs/pipeline/train", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--out", default="runs/pipeline/evaluate", show_default=True,
              type=click.Path(file_okay=False))
@_progress_option
def evaluate_cmd(params_path: str, profile: str | None, fetched: str, run_dir: str, out: str,
                 progress: bool) -> None:
    """Test error of the trained net: the port (all views) and the 2012 re-creation."""
    from alexnet.pipeline.evaluate import evaluate_stage

    evaluate_stage(_profile(params_path, profile), fetched, run_dir, out, progress=progress)


@click.command("verify")
@_params_option
@_profile_option
@click.option("--run", "run_dir", default="runs/pipeline/train", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--out", default="runs/pipeline/verify", show_default=True,
              type=click.Path(file_okay=False))
def verify_cmd(params_path: str, profile: str | None, run_dir: str, out: str) -> None:
    """Equivalence of both implementations on the trained weights, and accuracy vs reported."""
    from alexnet.pipeline.verify import verify_stage

    verify_stage(_profile(params_path, profile), run_dir, out)


@click.command("sweep")
@_params_option
@_profile_option
@click.option("--seed", type=int, required=True, help="The run's seed (one of sweep.seeds).")
@click.option("--shuffle", type=click.Choice(["once", "epoch", "none"]), required=True,
              help="The run's data order (one of sweep.shuffle).")
@click.option("--fetched", default="runs/pipeline/fetch", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="The run folder (dvc.yaml: runs/sweep/<shuffle>-seed<seed>).")
@_progress_option
def sweep_cmd(params_path: str, profile: str | None, seed: int, shuffle: str, fetched: str,
              out: str, progress: bool) -> None:
    """One run of the error-bar sweep: the profile's training with another seed and order.

    Resumes an interrupted run like `pipeline train`; a profile with `sweep: false`
    trains nothing (the folder says so).
    """
    from alexnet.pipeline.params import load_params, resolve_profile, sweep_spec
    from alexnet.pipeline.seeds import sweep_run

    p = load_params(params_path)  # read once for the profile and the sweep section
    s = sweep_run(resolve_profile(params_path, profile, p), sweep_spec(params_path, p),
                  seed, shuffle, fetched, out, progress=progress)
    if s.get("test_top1_err") is not None:
        click.echo(f"{out}: test error top-1 {100 * s['test_top1_err']:.2f}% "
                   f"({s['test_views']} view(s)) after {s['epochs']} epochs, "
                   f"{s['wall_s']:.0f} s")


@click.command()
@click.argument("runs", nargs=-1, type=click.Path(file_okay=False))
@click.option("--results", "results_path", type=click.Path(dir_okay=False),
              help="A results file listing runs (such as "
              "benchmarks/results/cifar10-80sec-seeds.json) instead of run folders.")
@click.option("--sweep", "sweep_dir", type=click.Path(file_okay=False),
              help="The sweep's folder (runs/sweep): summarise the runs params' `sweep` "
              "section lists, for the profile.")
@_params_option
@_profile_option
@click.option("--arch", help="Network whose reported figure to compare (default: the runs').")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for seeds.json and seeds.md.")
@click.option("--metrics", "metrics_path", type=click.Path(dir_okay=False),
              help="Also write the per-order figures here (for `dvc metrics show`).")
def seeds_cmd(runs: tuple[str, ...], results_path: str | None, sweep_dir: str | None,
              params_path: str, profile: str | None, arch: str | None, out: str,
              metrics_path: str | None) -> None:
    """Mean +- sample std of seeded runs per data order, against the reported figure.

    RUNS are finished `alexnet train` run folders; or --sweep DIR takes the runs of
    params' sweep section; or --results a results file. The summary goes to
    OUT/seeds.json and OUT/seeds.md.
    """
    from alexnet.errors import ConfigError
    from alexnet.pipeline.jsonfiles import write_json
    from alexnet.pipeline.params import load_params, resolve_profile, sweep_spec
    from alexnet.pipeline.seeds import (
        metrics,
        read_results,
        read_run,
        summarise,
        sweep_records,
        write_summary,
    )

    if sum(map(bool, (runs, results_path, sweep_dir))) != 1:
        raise ConfigError("give run folders, --results or --sweep (exactly one of them)")
    meta: dict = {}
    if results_path:
        records, meta = read_results(results_path)
        arch = arch or meta.get("arch")
        if not arch:
            raise ConfigError(f"{results_path}: no `arch` key; pass --arch")
    elif sweep_dir:
        p = load_params(params_path)
        prof = resolve_profile(params_path, profile, p)
        records = sweep_records(sweep_dir, sweep_spec(params_path, p))
        arch = arch or str(prof.train.get("arch") or prof.name)
        meta = {"what": f"profile {prof.name}, runs of params' sweep section under "
                f"{sweep_dir}"}
    else:
        records = [read_run(r) for r in runs]
        archs = {r["arch"] for r in records}
        if arch is None:
            if len(archs) != 1:
                raise ConfigError(f"runs of several networks {sorted(map(str, archs))}; "
                                  "pass --arch")
            arch = str(archs.pop())
    summary = summarise(records, arch)
    j, m = write_summary(summary, out, meta)
    if metrics_path:
        write_json(metrics_path, metrics(summary))
    if summary.get("not_swept"):
        click.echo(f"{arch}: not swept (the profile has `sweep: false`)")
    for e in summary["orders"].values():
        click.echo(f"{e['order']}: {e['verdict']}")
    click.echo(f"wrote {j} and {m}")


PIPELINE_COMMANDS = {"train": train_cmd, "sweep": sweep_cmd, "seeds": seeds_cmd,
                     "evaluate": evaluate_cmd, "verify": verify_cmd}


@click.group(cls=LazyGroup)
def pipeline() -> None:
    """The pipeline's train, evaluate and verify stages, driven by params.yaml profiles."""


for _name, _cmd in PIPELINE_COMMANDS.items():
    pipeline.add_command(_cmd, _name)
