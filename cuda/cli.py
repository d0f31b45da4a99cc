"""``alexnet cuda``: build the kernel libraries ahead of use and say what is available.

The libraries also build on first use; this command exists so an installation (or a CI image)
can pay the compile time once, up front, and so a user can see which hosts work here.
"""

from __future__ import annotations

import click

from alexnet.cuda import build


@click.group()
def cuda() -> None:
    """The cudaconv2-style kernels: one source, built for GPUs (nvcc) and CPUs (emulation)."""


@cuda.command("build")
@click.option(
    "--host",
    "hosts",
    type=click.Choice(["emulation", "cuda", "all"]),
    default="all",
    show_default=True,
    help="Which library to build; 'cuda' needs nvcc but no GPU.",
)
@click.option("--force", is_flag=True, help="Rebuild even when a cached library exists.")
def build_cmd(hosts: str, force: bool) -> None:
    """Compile the kernels (cached by source hash) and print each library's path."""
    wanted = build.HOSTS if hosts == "all" else (hosts,)
    for host in wanted:
        if hosts == "all":
            try:
                build.find_compiler(host)
            except build.BackendUnavailable as exc:
                click.echo(f"{host}: skipped ({exc})")
                continue
        click.echo(f"{host}: {build.build_library(host, force=force)}")


@cuda.command("info")
def info_cmd() -> None:
    """Compilers found, cache location and whether torch sees a GPU."""
    click.echo(f"cache: {build.cache_root()}")
    for host in build.HOSTS:
        try:
            compiler = build.find_compiler(host)
        except build.BackendUnavailable as exc:
            click.echo(f"{host}: unavailable ({exc})")
            continue
        lines = compiler.version.splitlines() or [""]
        version = next((ln for ln in lines if "release" in ln), lines[0])
        state = "cached" if build.library_path(host, compiler).exists() else "not built"
        click.echo(f"{host}: {compiler.path} [{version}] library {state}")
    try:
        import torch

        gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    except ImportError:
        gpu = "torch not installed"
    click.echo(f"GPU seen by torch: {gpu}")
