"""Numerical layer: what :mod:`analysis` derived, compiled and measured.

The public API::

    from numerics import Axis, IteratedMap, cascade, continuation, crosscheck, width_scan, sweep, central_flow
    cubic = IteratedMap("uv-eos", values={"k": 1.2})   # or IteratedMap(load_model("uv", "mup"), values={...})
    cubic.run(500), cubic.lyapunov(), cubic.orbit_diagram(Axis("k", values), steps, keep), cubic.basin(...)
    cascade("uv-eos", "k"), crosscheck("uv", values={"eta": 0.5, "y": 1}, width=64)
    sweep("uv-eos", Axis.parse("k=0.8:2:64"), measure="period", out="k.zarr")
    continuation("uv-eos", Axis.parse("k=0.5:1.3"), doublings=1)  # branches of fixed points and orbits
    central_flow("xy-quartic", 300, values={"eta": 0.2})         # the time-averaged GD at the EoS

Options are keyword arguments; a model's parameter values are one mapping, ``values={name: value}`` (so that a
parameter may be called anything, ``steps`` or ``seed`` included); a range is an :class:`Axis`.

Every result is typed, with ``.to_dict()`` (the command line's JSON) and, where a figure exists, ``.plot()``.
The command line (:mod:`numerics.cli`) and the report (:mod:`numerics.report`) are thin layers on top.
"""
import importlib
import os

# numba's parallel kernels run on GNU OpenMP here, whose idle threads spin after every parallel region (300,000
# turns by default) instead of sleeping; on a machine with few cores they then compete with the Python work that
# follows a kernel: a 20,000-step Nesterov run on two-input (its round-off reruns in mpmath after the parallel
# Lyapunov kernel) took 43 s of CPU with the default and 9 s with no spinning, and an orbit diagram's overhead
# shrinks too (docs/performance.md). libgomp reads the setting when numba first loads it, after this import; a
# value the user set is kept.
os.environ.setdefault("GOMP_SPINCOUNT", "0")

# Imported on first use (PEP 562), so that a command pays only for the modules it needs: the cross-check pulls in
# scipy and torch, sweeps pull in dask, xarray and zarr.
_EXPORTS = {
    "OUTCOMES": "classify", "Outcome": "classify", "REGIMES": "classify", "Regime": "classify",
    "CrossCheck": "cross_check", "crosscheck": "cross_check", "width_scan": "cross_check", "WidthScan": "cross_check",
    "CentralFlow": "central_flows", "central_flow": "central_flows", "FlowEvent": "central_flows",
    "Cascade": "flips", "cascade": "flips",
    "Continuation": "branches", "continuation": "branches", "continue_curve": "branches",
    "Basin": "iterated_map", "IteratedMap": "iterated_map", "LyapunovSpectrum": "iterated_map",
    "OrbitDiagram": "iterated_map", "Trajectory": "iterated_map",
    "load_sweep": ("sweeps", "load"), "sweep": "sweeps",
    "Axis": "axis", "Categories": "axis",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'numerics' has no attribute {name!r}")
    module, attribute = _EXPORTS[name] if isinstance(_EXPORTS[name], tuple) else (_EXPORTS[name], name)
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
