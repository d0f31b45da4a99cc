"""Training on several processes, GPUs or machines: ``torchrun`` and DistributedDataParallel.

The 2012 net was split across two GTX 580s by hand (model parallelism, paper section
3.2); today the same network fits one card, and the way to use several is data
parallelism: every process holds the whole net, takes a share of each minibatch, and
torch's :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients
before the update. Nothing here is a home-made scheme: the processes are started by
``torchrun``, which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; this module reads them, joins the process group (``nccl`` on GPUs,
``gloo`` on CPUs) and offers the few collective steps the training loop needs.

How the data is shared (:mod:`.train` uses this): each global minibatch is the one a
single process would take, in the 2012 order (shuffled once, or per epoch); it is
augmented as a whole, with the same seeded generator, and cut into ``WORLD_SIZE``
contiguous shares, one per rank (the equivalent of torch's DistributedSampler, with the
2012 order and the 2012 augmentation kept). Each rank weights its loss by its share of
the images, so the averaged gradient is that of the whole minibatch: a run on N
processes follows the single-process run with the same ``--batch``, up to the order in
which floating-point gradients are summed (and dropout, whose masks each rank draws for
its own images).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from alexnet.errors import BackendUnavailable, ConfigError

#: How long a rank waits for the others at a collective step (rank 0 alone scores the
#: test set at the end of each epoch while the others wait; ImageNet's 50,000
#: validation images with 10 views take a while on a slow machine).
TIMEOUT = datetime.timedelta(hours=2)


@dataclass
class Distributed:
    """This process's place in a ``torchrun`` job."""

    rank: int
    world: int
    local_rank: int
    backend: str
    owned: bool = True  # this module joined the group (and leaves it in close())

    @property
    def main(self) -> bool:
        """Rank 0 writes the checkpoints, the metrics and the report, and logs."""
        return self.rank == 0

    def device(self, wanted: torch.device) -> torch.device:
        """Each process of a node on its own GPU (``cuda:LOCAL_RANK``); CPUs as asked."""
        if wanted.type != "cuda":
            return wanted
        if self.local_rank >= torch.cuda.device_count():
            raise BackendUnavailable(
                f"LOCAL_RANK {self.local_rank}: this machine has {torch.cuda.device_count()} "
                "CUDA device(s); start at most that many processes per node")
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The model as DistributedDataParallel sees it (gradients averaged over ranks)."""
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def share(self, n: int) -> slice:
        """This rank's contiguous share of a global minibatch of ``n`` images."""
        bounds = np.linspace(0, n, self.world + 1).round().astype(int)
        return slice(int(bounds[self.rank]), int(bounds[self.rank + 1]))

    def sum(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sums over all ranks (float64)."""
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return [float(v) for v in t.cpu()]

    def barrier(self) -> None:
        dist.barrier()

    def close(self) -> None:
        """Leave the process group, if this module joined it."""
        if self.owned and dist.is_initialized():
            dist.destroy_process_group()


def from_environment(device: torch.device) -> Distributed | None:
    """Join the ``torchrun`` job this process belongs to; None when started alone.

    Already-initialised process groups (a caller's own) are used as they are.
    """
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    try:
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except (KeyError, ValueError):
        raise ConfigError("WORLD_SIZE is set but RANK is not (start the processes with "
                          "torchrun)") from None
    if not dist.is_available():
        raise BackendUnavailable("this torch build has no torch.distributed")
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                timeout=TIMEOUT)
    return Distributed(rank=rank, world=world, local_rank=local_rank,
                       backend=str(dist.get_backend()), owned=owned)
