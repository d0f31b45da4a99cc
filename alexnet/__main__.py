"""``python -m alexnet``: the ``alexnet`` command, for launchers that start a module
(``torchrun --nproc-per-node 2 -m alexnet train ...``)."""

from alexnet.cli import main

main()
