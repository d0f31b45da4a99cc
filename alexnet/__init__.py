"""AlexNet, preserved and running.

The import root of the project. The repository keeps the 2012 cuda-convnet layout on
disk (``original/``, ``modern/``, ``cuda/``, ``verify/``); packaging maps each folder
into this namespace so that there is one distribution and one import root.
"""

__version__ = "0.1.0"

UPSTREAM_REPO = "https://github.com/computerhistory/AlexNet-Source-Code"
UPSTREAM_COMMIT = "2f8b81f76470bf873c865754ad8f4a5e0dbbeb7b"
