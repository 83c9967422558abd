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


def record(argv: list, compute) -> dict:
    """``compute()`` (a library call returning a result or a JSON-ready object), recorded with the command line
    ``sharpness ARGV --json`` that prints the same JSON."""
    result = compute()
    payload = result.to_dict() if hasattr(result, "to_dict") else result
    return {"command": "sharpness " + shlex.join(list(argv) + ["--json"]),
            "result": json.loads(json.dumps(finite(payload), allow_nan=False))}


def versions() -> dict:
    """The versions of Python and of the packages that compute the report (``None``: not installed)."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def set_args(values: dict) -> list:
    """The ``--set NAME=VALUE`` options that give ``values``, in order."""
    return [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
