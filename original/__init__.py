"""A runnable re-creation of the 2012 cuda-convnet system, in its own layout.

Each module here answers to a file of the 2012 release (computerhistory/
AlexNet-Source-Code at commit 2f8b81f7); its docstring names the upstream file and
line ranges it re-creates. Nothing is copied: facts carried over, code written anew.
"""
