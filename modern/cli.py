"""``alexnet train``, ``alexnet evaluate`` and ``alexnet predict`` (thin wrappers).

Each command parses options and calls one library function (:func:`.train.train`,
:func:`.evaluate.evaluate_checkpoint`, :func:`.evaluate.predict_files`); user errors
are :class:`~alexnet.errors.AlexNetError` and reach the user as one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from click.core import ParameterSource

VIEWS = click.Choice(["1", "9", "10"])


@click.command()
@click.option("--arch", help="Network name understood by build_model (e.g. cifar10-80sec, "
              "alexnet2012; default cifar10-80sec, or the --init-from checkpoint's).")
@click.option("--init-from", type=click.Path(), help="Start from this checkpoint's weights "
              "(a run, or weights imported by `alexnet weights import`), e.g. to fine-tune.")
@click.option("--data", type=click.Path(), help="cifar-10-python.tar.gz, an image-folder tree "
              "(train/<class>/, test/<class>/ or val/<class>/) or its .tar.gz, or a 2012 "
              "batch folder (batches.meta + data_batch_N).")
@click.option("--out", type=click.Path(), required=True, help="Run folder, e.g. runs/NAME.")
@click.option("--epochs", type=int, help="Epochs (default: the arch's 2011/2012 recipe, "
              "e.g. 10 for cifar10-80sec, 140 for cifar10-18pct, 90 for alexnet2012; 10 "
              "for a net without one).")
@click.option("--batch", type=int, default=128, show_default=True, help="Minibatch size.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--schedule", help="Learning-rate schedule (default: the arch's recipe; "
              "'none' for constant rates): a YAML/JSON file of rules "
              "{epoch, layers, factor|factorW|factorB|eps|epsW|epsB|color_noise} or a "
              "preset (cifar10-80sec, cifar10-18pct, cifar10-conv-local-11pct, alexnet2012, "
              "alexnet2012-run4, none).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its latest "
              "checkpoint (bit-exact on CPU).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--cache", "cache_dir", type=click.Path(),
              help="Decoded-image cache (default ~/.cache/alexnet or $ALEXNET_CACHE).")
@click.option("--md5", help="Verify the data file against this md5 (the official CIFAR-10 "
              "tarball is always checked).")
@click.option("--image-size", type=int, help="Stored square image size (default 32 for "
              "CIFAR-size nets, 256 for ImageNet-size nets).")
@click.option("--pca-noise", type=click.Choice(["code", "paper", "off"]),
              help="PCA colour noise as the 2012 code did it, as the paper writes it, or "
              "off (default: code for ImageNet, off for CIFAR).")
@click.option("--color-noise", type=float, default=0.1, show_default=True,
              help="Colour-noise scale (sigma).")
@click.option("--crop-chunk", type=int, help="Images sharing one crop offset and flip "
              "(default 32 for ImageNet, 1 for CIFAR).")
@click.option("--flip/--no-flip", default=None, help="Random mirror images (default: when "
              "the net reads crops smaller than the stored images).")
@click.option("--shuffle", type=click.Choice(["once", "epoch", "none"]), default="once",
              show_default=True, help="Sample order: shuffled once (2012 batch files), "
              "every epoch, or as stored.")
@click.option("--test-views", type=VIEWS, help="Views for the per-epoch test (default: "
              "the arch's recipe, else 1).")
@click.option("--final-views", type=VIEWS, help="Views for the final test (default: the "
              "arch's recipe, e.g. 9 for cifar10-conv-local-11pct, else --test-views).")
@click.option("--checkpoint-every", type=int, default=0, show_default=True,
              help="Also checkpoint every N minibatches (0: at epoch ends only).")
@click.option("--keep", type=int, default=2, show_default=True,
              help="Checkpoints to keep.")
@click.option("--limit-train", type=int, help="Use only N training images: a stratified "
              "subset (every class in proportion) drawn from --seed.")
@click.option("--limit-test", type=int, help="Use only N test images (stratified, from "
              "--seed).")
@click.option("--max-steps", type=int, help="Stop (with a checkpoint) after N minibatches "
              "in total.")
@click.option("--workers", type=int, help="Image-decoding threads.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.pass_context
def train(ctx: click.Context, resume: bool, max_steps: int | None, **opts) -> None:
    """Train a network the 2012 way (update rule, augmentation, schedule)."""
    from alexnet.modern.allocator import tune_allocator
    from alexnet.modern.train import TrainConfig
    from alexnet.modern.train import train as run_train

    # Keep freed activations in the process (the largest single speed-up on CPU; a
    # process-wide setting, so the command makes it, not the library).
    tune_allocator()

    from alexnet.errors import ConfigError

    for k in ("test_views", "final_views"):
        if opts[k] is not None:
            opts[k] = int(opts[k])
    given = {k: v for k, v in opts.items()
             if ctx.get_parameter_source(k) not in (ParameterSource.DEFAULT, None)}
    if not resume and not opts["data"]:
        raise ConfigError("--data is required for a new run")
    cfg = TrainConfig(**{k: v for k, v in opts.items() if v is not None})
    res = run_train(cfg, resume=resume, overrides=given, max_steps=max_steps)
    final = res.metrics.get("final")
    if res.status == "finished" and final:
        click.echo(f"{res.out}: test error top-1 {100 * final['top1_err']:.2f}%, top-5 "
                   f"{100 * final['top5_err']:.2f}% ({final['views']} view(s)); "
                   f"metrics in {res.out / 'metrics.json'}")
    skipped = res.metrics.get("skipped_images", 0)
    if skipped:
        click.echo(f"skipped {skipped} unreadable image(s); their names are in "
                   f"{res.out / 'metrics.json'}")
    if res.status != "finished":
        click.echo(f"{res.out}: {res.status}; continue with: alexnet train --out {res.out} "
                   "--resume")
        if res.status == "interrupted":
            sys.exit(130)


@click.command()
@click.option("--checkpoint", required=True, type=click.Path(),
              help="Run folder, checkpoints folder, or a checkpoint .json/.safetensors.")
@click.option("--data", type=click.Path(), help="Dataset (default: the one the run used).")
@click.option("--views", type=VIEWS, default="1", show_default=True,
              help="1 centre crop; 9 a 3x3 grid (2012 CIFAR); 10 corners+centre and mirrors.")
@click.option("--json", "json_out", type=click.Path(), help="Also write the result here.")
@click.option("--batch", type=int, default=256, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--cache", "cache_dir", type=click.Path())
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N test images "
              "(only those are decoded).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def evaluate(checkpoint: str, data: str | None, views: str, json_out: str | None, batch: int,
             device: str, cache_dir: str | None, limit: int | None, progress: bool) -> None:
    """Test error (top-1, top-5, ties counted fractionally) of a checkpoint."""
    from alexnet.modern.evaluate import evaluate_checkpoint
    from alexnet.modern.metrics import write_json

    res = evaluate_checkpoint(checkpoint, data, views=int(views), batch_size=batch,
                              device=device, cache_dir=cache_dir, limit=limit,
                              progress=progress)
    click.echo(f"{res['checkpoint']}: {res['n']} test images, {res['views']} view(s): "
               f"top-1 error {100 * res['top1_err']:.2f}%, top-5 error "
               f"{100 * res['top5_err']:.2f}%, loss {res['loss']:.4f}")
    if res.get("skipped_images"):
        click.echo(f"skipped {res['skipped_images']} unreadable test image(s)")
    if json_out:
        write_json(Path(json_out), res)


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--weights", "weights", envvar="ALEXNET_WEIGHTS",
              help="A known weight set's name once imported (`alexnet weights list`; e.g. "
              "bvlc-alexnet), or a run folder / checkpoint (default: $ALEXNET_WEIGHTS).")
@click.option("--checkpoint", type=click.Path(), envvar="ALEXNET_CHECKPOINT",
              help="Run folder, checkpoints folder, or a checkpoint .json/.safetensors "
              "(default: $ALEXNET_CHECKPOINT).")
@click.option("--top", type=int, default=5, show_default=True)
@click.option("--views", type=VIEWS, default="1", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def predict(images: tuple[str, ...], weights: str | None, checkpoint: str | None, top: int,
            views: str, device: str, as_json: bool) -> None:
    """Most probable classes of IMAGE files, with their words and probabilities."""
    from alexnet.errors import ConfigError
    from alexnet.modern.evaluate import load_for_inference, predict_files
    from alexnet.modern.importers import resolve_weights

    if (weights is None) == (checkpoint is None):
        raise ConfigError("give --weights NAME_OR_DIR (e.g. an imported bvlc-alexnet) or "
                          "--checkpoint PATH, one of them")
    inf = load_for_inference(resolve_weights(weights) if weights else checkpoint,
                             device=device)
    res = predict_files(inf, list(images), top=top, views=int(views))
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    for r in res:
        click.echo(r["image"])
        for t in r["top"]:
            words = f"{t['words']} ({t['label']})" if t.get("words") else t["label"]
            click.echo(f"  {100 * t['prob']:6.2f}%  {words}")
