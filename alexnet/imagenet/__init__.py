"""The ILSVRC-2012 files as the port reads them.

:mod:`.devkit` reads the development kit (the 1000 classes and the validation ground
truth), :mod:`.prepare` turns the official archives (or their extracted folders) into the
2012 preprocessing as ``train/<wnid>/`` and ``val/<wnid>/`` image folders with a class
file, and :mod:`.cli` is ``alexnet imagenet prepare``.
"""
