r"""Grids of training runs on Dask: :func:`numerics.nn.train` at every point of a product of axes over its
settings (the step size, the width, the seed, ...), one Dask task per run, each finished run saved at once.

A grid varies any of :func:`train`'s numeric keyword arguments (:func:`variable_settings`, read from its
signature: ``eta``, ``width``, ``seed``, ``steps``, ``beta``, ... and whatever number :func:`train` accepts
next), each given as an :class:`~numerics.axis.Axis`; several axes give their product, in the order given (the
first axis varies slowest). Every run is one Dask task (:func:`train_cell`) on a worker of the scheduler at
``scheduler`` (``tcp://HOST:PORT``, started with Dask's own ``dask scheduler`` and ``dask worker`` commands), or
of a local cluster of single-threaded worker processes (one per core). A run is a full-batch (or seeded
mini-batch) training from a seeded initialisation with one PyTorch thread, so it computes the same numbers on
any worker as in one process, bit for bit (tested).

The store, ``out`` (a ``.json`` file), is the file of :func:`numerics.nn.eta_sweep`, extended from one axis to
several: ``{"key", "settings", "runs": {CELL: run}}``, where ``settings`` are the settings shared by every run
(those not varied), ``key`` their hash, and each ``run`` a :class:`~numerics.nn.Training`'s ``to_dict()`` keyed
by its cell, ``eta=0.1,seed=0,width=8`` (the varied names in alphabetical order; the step size alone, ``0.1``,
where the grid varies only eta, which is the format of the earlier eta sweeps, so that their files resume). The
driver alone writes it: each finished run is added and the file replaced atomically
(:func:`analysis.atomic.write_atomic`) under a lock held for the whole grid
(:func:`analysis.atomic.exclusive`). One JSON file rather than a Zarr store or a directory of files, because a
run is a ragged record (the loss at every step, the spectrum at every measurement, regimes, a power spectrum) of
tens of kilobytes that nothing reads in slices, a grid is hundreds of runs at most (each takes minutes), and one
file is one thing to copy, check and resume; each run's JSON text is kept, so a write costs the bytes of the
file, not their serialisation (measured: 200 runs of 600 steps measured at every step, 49 kB each, make a 10 MB
file whose 200th write takes 31 ms, against minutes of training per run). A rerun of the same grid (or of a larger one with the same shared
settings) reads the finished runs back and computes only the missing ones; a file of other shared settings is
refused.

Failures: a worker lost while it runs (its process killed, its machine gone) costs only time, the scheduler
giving its task to another worker (:func:`numerics.sweeps.finished`); a lost scheduler, an interrupt or a failed
write ends the grid with the finished runs kept in ``out``, and a rerun resumes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import itertools
import json
import math
import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from analysis.atomic import check_writable, exclusive, write_atomic
from analysis.errors import DomainError, OutputError, UnknownNameError, UserInputError, WrongTypeError

from ..axis import Axis, Categories
from ..serialize import finite
from .architectures import PARAMETERIZATIONS
from .comparison import uv_early_regime, uv_parameterization, uv_prediction
from .training import Training

# Settings that change nothing a run records (threads: round-off at most; the budget, once the run is allowed),
# hence left out of the store's key.
UNKEYED = ("threads", "max_memory", "force")
# Numeric settings of train that are not varied: how a run is computed (threads), or what fixes the default
# number of examples (time_budget: vary ``samples`` instead).
NOT_VARIED = ("threads", "time_budget")
# Settings of train that are names, not numbers, a grid may vary (a Categories axis), with the names each takes.
CATEGORICAL = {"parameterization": PARAMETERIZATIONS}
# The columns a grid's table takes from the run's point of the phase diagram (numerics.nn.phase.PhaseCell).
PHASE_COLUMNS = ("parameterization", "init_scale", "early_regime", "uv_parameterization", "uv_early_regime", "agrees")


def variable_settings() -> dict:
    """``{name: int or float}``: the keyword arguments of :func:`numerics.nn.train` a grid may vary, read from its
    signature: those annotated as a number (``int``, ``float``, or either or ``None``), except
    :data:`NOT_VARIED`."""
    from .training import train

    kinds = {}
    for parameter in inspect.signature(train).parameters.values():
        annotation = str(parameter.annotation).replace(" ", "")
        for kind in (int, float):
            if parameter.name not in NOT_VARIED and annotation in (kind.__name__, f"{kind.__name__}|None",
                                                                    f"Optional[{kind.__name__}]"):
                kinds[parameter.name] = kind
    return kinds


def grid_axis(value):
    """``value`` as a grid's axis: a :class:`~numerics.axis.Categories` (or a pair ``(name, names)``) for a setting
    of :data:`CATEGORICAL`, else an :class:`~numerics.axis.Axis` (:meth:`Axis.of`)."""
    if isinstance(value, Categories):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] in CATEGORICAL:
        return Categories(*value)
    return Axis.of(value)


def as_setting(name: str, value):
    """``value`` as :func:`train` takes the setting ``name`` (:func:`variable_settings`): an integer for an integer
    setting, within 1e-9 of one (``geomspace``'s 16.000000000000004 is 16; 8.5 is refused), else a float; for a
    setting of :data:`CATEGORICAL`, one of its names."""
    if name in CATEGORICAL:
        if value not in CATEGORICAL[name]:
            raise UnknownNameError(name, value, CATEGORICAL[name])
        return value
    if variable_settings()[name] is not int:
        return float(value)
    if abs(value - round(value)) > 1e-9 * max(1.0, abs(value)):
        raise DomainError(name, value, "an integer")
    return int(round(value))


def store_key(settings: dict) -> str:
    """The hash of the settings shared by the runs of a store (JSON, sorted keys)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cell_key(cell: dict) -> str:
    """The key of a run in the store: ``repr(eta)`` where only eta varies (the earlier eta sweeps' format),
    else ``NAME=VALUE,...`` in alphabetical order of the names."""
    if list(cell) == ["eta"]:
        return repr(float(cell["eta"]))
    return ",".join(f"{name}={cell[name]!r}" for name in sorted(cell))


def cell_label(cell: dict) -> str:
    """``eta=0.1, width=8``: a cell in a message, in the grid's order."""
    return ", ".join(f"{name}={value!r}" for name, value in cell.items())


class RunStore:
    """The ``out`` file of a sweep or a grid (module docstring), read on construction (``out=None``: no file,
    nothing kept). ``settings`` are the runs' settings, of which ``names`` are varied."""

    def __init__(self, out: Optional[str], settings: dict, names):
        self.out = out
        self.settings = {k: v for k, v in settings.items() if k not in (*names, *UNKEYED, "progress")}
        self.key = store_key(self.settings)
        self.runs, self.texts = {}, {}
        if out is None or not Path(out).exists():
            return
        try:
            content = json.loads(Path(out).read_text())
            stored_key, self.runs = content["key"], dict(content["runs"])
        except (OSError, ValueError, KeyError, TypeError):
            raise UserInputError(f"--out {out} exists and is not a sweep file of this command; use another "
                                 f"file") from None
        if stored_key != self.key:
            raise UserInputError(f"--out {out} holds a sweep with other settings; use another file")

    def __contains__(self, cell: dict) -> bool:
        return cell_key(cell) in self.runs

    def __len__(self) -> int:
        return len(self.runs)

    def training(self, cell: dict) -> Training:
        """The stored run of ``cell``; one that is not a :class:`Training`'s ``to_dict()`` is refused."""
        try:
            return Training.from_dict(self.runs[cell_key(cell)])
        except (KeyError, TypeError, AttributeError):
            raise UserInputError(f"--out {self.out} holds {cell_label(cell)} in a form this command did not write; "
                                 f"use another file") from None

    def add(self, cell: dict, run: Training) -> None:
        """Keep ``run`` as ``cell``'s and replace the file (atomically) with every run kept; a failed write is an
        :class:`~analysis.errors.OutputError` that says what the file keeps."""
        if self.out is None:
            return
        key = cell_key(cell)
        self.runs[key] = finite(run.to_dict())
        text = json.dumps(self.runs[key], allow_nan=False, default=str)
        for stored in self.runs:
            if stored not in self.texts:
                self.texts[stored] = json.dumps(self.runs[stored], allow_nan=False, default=str)
        self.texts[key] = text
        body = ", ".join(f"{json.dumps(stored)}: {self.texts[stored]}" for stored in self.runs)
        try:
            write_atomic(self.out, f'{{"key": {json.dumps(self.key)}, "settings": '
                                   f'{json.dumps(self.settings, default=str)}, "runs": {{{body}}}}}', private=False)
        except OSError as error:
            del self.runs[key], self.texts[key]
            what = "eta(s)" if list(cell) == ["eta"] else "run(s)"
            raise OutputError(f"cannot write --out {self.out}: {error.strerror or error}; it keeps the "
                              f"{len(self.runs)} {what} finished before, {cell_label(cell)} is lost") from None


def locked(out: Optional[str]):
    """The lock of the store ``out`` (a ``.json`` path, checked to be writable before any work), held while a
    sweep or a grid reads and writes it: a second one into the same file is refused
    (:func:`analysis.atomic.exclusive`). Nothing to lock where ``out`` is ``None``."""
    if out is None:
        return nullcontext()
    if Path(out).suffix != ".json":
        raise UserInputError(f"--out must end in .json, got {out!r}")
    check_writable(out, "--out")
    return exclusive(out, "--out")


def comparison(run: Training):
    """The UV model's prediction for ``run`` (:func:`uv_prediction`), or ``None`` where there is none: no initial
    sharpness, or an eta*lam0 the UV model refuses (beyond the value bounds: ``eta=1e300``; negative: a concave
    loss) or under Adam (the UV model runs GD; Adam's eta is not on its axis). The finished run is kept either way; a
    refused comparison is said in one line on stderr."""
    if not run.eta_lam0 or run.optimizer == "adam":
        return None
    try:
        return uv_prediction(run.eta_lam0, run.width, parameterization=uv_parameterization(run.parameterization))
    except UserInputError as error:
        print(f"sharpness: warning: eta={run.eta!r}: the run is kept, without the UV comparison: {error}"
              .splitlines()[0], file=sys.stderr)
        return None


def sweep_table(runs: list) -> list:
    """One row per :class:`~numerics.nn.Training`: eta, eta*lam0, outcome, regimes (of ``regimes_of``), final
    sharpness / threshold, each measured quantity against the threshold (``threshold_ratios``), period, HVPs per
    measurement, and the UV model's outcome and regimes at the same eta*lam0."""
    rows = []
    for r in runs:
        uv = r.uv_prediction
        final = r.final["sharpness"]
        rows.append({"eta": r.eta, "eta_lam0": r.eta_lam0, "outcome": r.outcome.name,
                     "regimes": list(dict.fromkeys(x.name for x in r.regimes)),
                     "final_sharpness_times_eta_over_2": None if final is None else final * r.eta / 2,
                     "final_sharpness_over_threshold": None if final is None else final / r.threshold,
                     "threshold": r.threshold, "regimes_of": r.regimes_of, "threshold_ratios": r.threshold_ratios,
                     "period": r.period, "period_status": r.period_detail["status"],
                     "hvps_mean": r.hvps_mean,
                     "uv_outcome": uv["outcome"]["name"] if uv else None,
                     "uv_regimes": list(dict.fromkeys(uv["regimes"])) if uv else None})
    return rows


@dataclass(frozen=True)
class NetworkGrid:
    """The runs of a grid (:func:`network_grid`), in the grid's order.

    Attributes
    ----------
    axes : tuple of Axis
        The varied settings, the first varying slowest.
    cells : tuple of dict
        ``{name: value}`` of each run, one per point of the product of ``axes`` (integers for integer settings).
    runs : tuple of Training
        The run of each cell, with its ``uv_prediction``.
    out : str or None
        The store (``None``: nothing kept).
    computed, skipped : int
        Runs computed by this call, and read back from ``out`` (finished by an earlier call).
    """

    axes: tuple
    cells: tuple
    runs: tuple
    out: Optional[str]
    computed: int
    skipped: int

    def run(self, **values) -> Training:
        """The run at ``values`` (every varied name), e.g. ``grid.run(eta=0.1, width=8)``."""
        for cell, run in zip(self.cells, self.runs):
            if set(values) == set(cell) and all(cell[name] == values[name] for name in cell):
                return run
        raise UserInputError(f"no run at {cell_label(values)} in this grid of {', '.join(a.name for a in self.axes)}")

    def table(self) -> list:
        """One row per run (:func:`numerics.nn.sweep_table`), the cell's values first, then its point of the phase
        diagram (:class:`~numerics.nn.phase.PhaseCell`: ``parameterization``, ``init_scale``, ``early_regime``,
        ``uv_parameterization``, ``uv_early_regime``, ``agrees``)."""
        phase = self.phase_diagram().cells
        return [{**cell, **row, **{name: getattr(point, name) for name in PHASE_COLUMNS}}
                for cell, row, point in zip(self.cells, sweep_table(list(self.runs)), phase)]

    def phase_diagram(self):
        """The early regime of every run beside the UV model's at the same eta*lam0 and width
        (:class:`~numerics.nn.phase.PhaseDiagram`)."""
        from .phase import PhaseDiagram, phase_cell

        return PhaseDiagram(tuple(phase_cell(run) for run in self.runs))

    def phase_plot(self, path: str, points: int = 200) -> None:
        """The network's early regimes over (eta*lam0, width) beside the UV model's on the same axes
        (:meth:`~numerics.nn.phase.PhaseDiagram.plot`, over the runs' steps)."""
        self.phase_diagram().plot(path, max(run.steps for run in self.runs), points)

    def to_dict(self) -> dict:
        """``sharpness nn --vary ... --json``: ``{"axes", "out", "computed", "skipped", "cells", "runs", "table",
        "phase_diagram"}`` (``runs``: each :class:`Training`'s ``to_dict()``; ``phase_diagram``: the agreement of
        the early regimes with the UV model's, overall and per parameterization, without the cells, which are
        the table's)."""
        diagram = self.phase_diagram()
        return {"axes": [axis.to_text(counted=True) for axis in self.axes], "out": self.out,
                "computed": self.computed, "skipped": self.skipped, "cells": [dict(cell) for cell in self.cells],
                "runs": [run.to_dict() for run in self.runs], "table": self.table(),
                "phase_diagram": {**diagram.summary(), "by_parameterization": diagram.by_parameterization}}

    def plot(self, path: str) -> None:
        """Sharpness and loss of every run against the step (:func:`numerics.plots.nn_figure`)."""
        from .. import plots

        plots.nn_figure(list(self.runs), path)

    def __repr__(self) -> str:
        shape = " x ".join(f"{axis.name} ({len(axis)})" for axis in self.axes)
        return (f"NetworkGrid({shape}: {len(self.runs)} runs, {self.computed} computed, {self.skipped} already "
                f"done{'' if self.out is None else ' in ' + self.out})")


def train_cell(job: dict) -> tuple:
    """One run of a grid, on a Dask worker: ``(index, Training)`` of :func:`train` with ``job["settings"]``
    (plain data in; the run's ``data``/``model`` put back as given, the worker having read them at their absolute
    paths)."""
    from .training import train

    run = train(**job["settings"])
    return job["index"], dataclasses.replace(run, **job["given"])


def _as_given(settings: dict) -> tuple:
    """``(settings for a worker, fields to put back)``: the paths of ``data`` and of ``model``'s file made absolute
    (a worker started elsewhere has another working directory; on another machine the paths must exist there
    too, e.g. on a shared file system)."""
    given, resolved = {}, dict(settings)
    if settings.get("data") is not None:
        given["data"] = settings["data"]
        resolved["data"] = str(Path(settings["data"]).resolve())
    if settings.get("model") is not None:
        path, sep, name = str(settings["model"]).rpartition(":")
        if sep and path:
            given["model"] = settings["model"]
            resolved["model"] = f"{Path(path).resolve()}:{name}"
    return resolved, given


def _cells(axes, settings: dict) -> list:
    """The product of ``axes`` as ``{name: value}``, checked: names train can vary, each varied once and not also
    given as a setting, integers for integer settings, a positive eta."""
    kinds = {**variable_settings(), **CATEGORICAL}
    names = [axis.name for axis in axes]
    for name in names:
        if name not in kinds:
            raise UnknownNameError("setting", name, sorted(kinds), " to vary in a network grid (a number train takes, "
                                                                  "or its parameterization)")
        if name in settings:
            raise UserInputError(f"{name} is both varied and given as {name}={settings[name]!r}; give it once")
    if len(set(names)) != len(names):
        raise UserInputError(f"a grid varies each setting once, got {', '.join(names)}")
    values = []
    for axis in axes:
        column = [as_setting(axis.name, value) for value in axis.values]
        if axis.name == "eta" and not all(math.isfinite(v) and v > 0 for v in column):
            raise DomainError("eta", next(v for v in column if not v > 0), "a positive number")
        values.append(column)
    return [dict(zip(names, point)) for point in itertools.product(*values)]


def local_workers(threads: int = 1) -> int:
    """Worker processes of the local cluster: one per core this process may run on, each with ``threads``
    PyTorch threads (``threads`` > 1: fewer workers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, threads))


def network_grid(vary, out: Optional[str] = None, *, scheduler: Optional[str] = None, client=None, progress=None,
                 after_run=None, **settings) -> NetworkGrid:
    """:func:`train` at every point of the product of ``vary`` (one :class:`~numerics.axis.Axis`, or a list of
    them, over :func:`variable_settings`) with the other ``settings`` (train's keyword arguments), one Dask task
    per run (module docstring), returned as a :class:`NetworkGrid`.

    ``out`` (a ``.json`` path): the store, checked for writability before any work, locked for the whole grid, each
    finished run saved at once; the runs it already holds are read back, not computed (a rerun computes only what
    is missing). ``scheduler``: ``tcp://HOST:PORT`` of a running Dask scheduler (reached within 5 s, as for
    :func:`numerics.sweeps.sweep`), default a local cluster of :func:`local_workers` single-threaded processes
    (no more than the runs to compute); ``client``: a :class:`distributed.Client` to use instead. ``threads``
    (default 1) are each run's PyTorch threads. ``max_memory`` and ``force`` are the budget of the whole grid
    (:func:`numerics.nn.training.check_budget`, before any work). ``progress(done, total)`` is called after each
    run computed here; ``after_run(count)`` too (the tests' fault-injection hook). For example
    ``network_grid([Axis("eta", [0.1, 0.2]), Axis("width", [8, 16])], "grid.json", steps=200, samples=256)``, and
    then ``grid.run(eta=0.2, width=8)`` (docs/networks.md runs one).
    """
    from .training import check_budget

    if isinstance(vary, (str, bytes)) or not isinstance(vary, (Axis, Categories, tuple, list)):
        raise WrongTypeError("vary", vary, "an Axis, a Categories, a pair (name, values) or a list of them")
    axes = tuple(grid_axis(v) for v in ([vary] if isinstance(vary, (Axis, Categories, tuple)) else vary))
    if not axes:
        raise UserInputError("a grid varies at least one setting")
    for bad in ("progress", "on_start"):
        if bad in settings:
            raise WrongTypeError(bad, settings[bad], "not a setting of a grid's runs (progress= is called per run)")
    # First from the axes' lengths alone (a lower bound of the work), before a million cells are built and checked
    def least(name, default, pick):
        axis = next((a for a in axes if a.name == name), None)
        return settings.get(name, default) if axis is None else pick(axis.values)

    check_budget(math.prod(len(axis) for axis in axes), least("steps", 400, min), least("measure_every", 5, max),
                 least("top_k", 1, min), max_memory=settings.get("max_memory"), force=settings.get("force", False))
    cells = _cells(axes, settings)
    runs_settings = [{**settings, **cell} for cell in cells]
    check_budget(len(cells), max(s.get("steps", 400) for s in runs_settings),
                 min(s.get("measure_every", 5) for s in runs_settings), max(s.get("top_k", 1) for s in runs_settings),
                 max_memory=settings.get("max_memory"), force=settings.get("force", False))
    with locked(out):
        return _grid(axes, cells, None if out is None else str(out), scheduler, client, progress, after_run,
                     settings)


def _grid(axes, cells, out, scheduler, client, progress, after_run, settings) -> NetworkGrid:
    from ..sweeps import connect, finished

    store = RunStore(out, settings, [axis.name for axis in axes])
    runs = {index: store.training(cell) for index, cell in enumerate(cells) if cell in store}
    missing = [index for index in range(len(cells)) if index not in runs]
    computed = 0
    if missing:
        jobs = []
        for index in missing:
            resolved, given = _as_given({**settings, **cells[index]})
            resolved["threads"] = settings.get("threads") or 1  # never the worker's default: one per core
            jobs.append({"index": index, "settings": resolved, "given": given})

        def stopped(reason):
            if not out:
                return f"{reason}; {computed} run(s) finished, not kept (pass --out to keep them)"
            return (f"{reason}; {out} keeps {len(store)} run(s) ({computed} finished this time): a rerun computes "
                    "only the others")

        workers = min(len(missing), local_workers(settings.get("threads") or 1))
        with nullcontext(client) if client is not None else connect(scheduler, processes=workers) as client:
            for index, run in finished(client, train_cell, jobs, scheduler, stopped):
                run = dataclasses.replace(run, uv_prediction=comparison(run))
                store.add(cells[index], run)
                runs[index] = run
                computed += 1
                if progress:
                    progress(computed, len(missing))
                if after_run:
                    after_run(computed)
    return NetworkGrid(axes=axes, cells=tuple(cells), runs=tuple(runs[i] for i in range(len(cells))), out=out,
                       computed=computed, skipped=len(cells) - len(missing))
