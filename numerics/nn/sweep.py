r"""Sweeps over the step size in one process: :func:`numerics.nn.train` at every eta, one after another, each
finished run saved and resumable (the store of :mod:`numerics.nn.grid`, whose grids run on Dask)."""
from __future__ import annotations

import dataclasses

from .grid import RunStore, comparison, locked
from .training import train


def eta_sweep(etas, out: str | None = None, progress=None, on_start=None, **settings) -> list:
    """:func:`train` at every eta of ``etas`` with the same ``settings``; with ``out`` (a ``.json`` path) every
    finished run is saved at once (written to a temporary file and renamed), and a rerun with the same settings
    skips the etas already in the file (an interrupted sweep resumes from the finished etas). A file written with
    other settings is refused. The file is checked for writability before any training and locked for the whole
    sweep (a second sweep into the same file is refused, :func:`analysis.atomic.exclusive`); a write that fails
    (a full disk) ends the sweep with an :class:`~analysis.errors.OutputError` that says which etas the file keeps.
    ``max_memory`` and ``force`` (in ``settings``) are the budget of the whole sweep (:func:`numerics.nn.training.check_budget`,
    before any work). ``progress`` is passed to :func:`train`; ``on_start(index, eta, done)`` is called before each eta (``done``: it
    was read from ``out``). Returns one :class:`~numerics.nn.Training` per eta, with its ``uv_prediction``; the file
    stores their ``to_dict()``."""
    from .training import check_budget

    check_budget(len(etas), settings.get("steps", 400), settings.get("measure_every", 5), settings.get("top_k", 1),
                 max_memory=settings.get("max_memory"), force=settings.get("force", False))
    with locked(out):
        return _sweep(etas, out, progress, on_start, settings)


def _sweep(etas, out, progress, on_start, settings) -> list:
    settings = {k: v for k, v in settings.items() if k not in ("eta", "progress")}
    store = RunStore(out, settings, ["eta"])
    runs = []
    for index, eta in enumerate(etas):
        cell = {"eta": float(eta)}
        done = cell in store
        if on_start:
            on_start(index, eta, done)
        if done:
            runs.append(store.training(cell))
            continue
        run = train(eta=float(eta), progress=progress, **settings)
        run = dataclasses.replace(run, uv_prediction=comparison(run))
        runs.append(run)
        store.add(cell, run)
    return runs
