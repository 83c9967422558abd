"""Numerical layer: what :mod:`analysis` derived, compiled and measured.

The public API::

    from numerics import IteratedMap, cascade, crosscheck, width_scan, sweep
    cubic = IteratedMap("uv-eos", k=1.2)          # or IteratedMap(load_model("uv", "mup"), eta=0.5, y=1, n=4)
    cubic.run(500), cubic.lyapunov(), cubic.orbit_diagram("k", values, steps, keep), cubic.basin(...)
    cascade("uv-eos", "k"), crosscheck("uv", width=64, eta=0.5, y=1), sweep("uv-eos", "k=0.8:2:64", ...)

Every result is typed, with ``.to_dict()`` (the command line's JSON) and, where a figure exists, ``.plot()``.
The command line (:mod:`numerics.cli`) and the report (:mod:`numerics.report`) are thin layers on top.
"""
from .classify import OUTCOMES, REGIMES
from .crosscheck import CrossCheck, crosscheck, width_scan
from .flips import Cascade, cascade
from .iterated_map import Basin, IteratedMap, LyapunovSpectrum, OrbitDiagram, Trajectory
from .sweeps import load as load_sweep
from .sweeps import sweep

__all__ = ["OUTCOMES", "REGIMES", "Basin", "Cascade", "CrossCheck", "IteratedMap", "LyapunovSpectrum",
           "OrbitDiagram", "Trajectory", "cascade", "crosscheck", "load_sweep", "sweep", "width_scan"]
