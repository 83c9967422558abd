"""What every number of the report carries: the result, the ``sharpness`` command line that prints it, and the
versions that computed it."""
from __future__ import annotations

import json
import platform
import shlex
from importlib import metadata

from ..serialize import finite

PACKAGES = ("sympy", "mpmath", "numpy", "scipy", "numba", "networkx", "matplotlib", "dask", "distributed",
            "xarray", "zarr", "torch", "scikit-learn")


def record(request, **hooks) -> dict:
    """``request.call(**hooks)`` (a :mod:`numerics.requests` request: the library call), recorded with the command
    line that prints the same JSON, ``sharpness`` + ``request.to_argv()`` + ``--json`` (and ``--quiet`` where the
    command draws a progress bar)."""
    payload = request.to_json(request.call(**hooks))
    argv = request.to_argv() + (["--quiet"] if request.quiet else []) + ["--json"]
    return {"command": "sharpness " + shlex.join(argv),
            "result": json.loads(json.dumps(finite(payload), allow_nan=False))}


def without_torch(what: str) -> dict | None:
    """``None`` where PyTorch imports; else the record of a part that needs it: no command, no result, and a note
    saying that ``what`` (e.g. "no real-network run") was not computed and how to install PyTorch. Such a part draws
    no figure and its section says so in the text (the abstract too)."""
    try:
        import torch  # noqa: F401 - whether it imports is the question
    except ImportError:
        return {"command": None, "result": None,
                "note": f"PyTorch is not installed (`pip install -e .[torch]`): {what}."}
    return None


def versions() -> dict:
    """The versions of Python and of the packages that compute the report (``None``: not installed)."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found

