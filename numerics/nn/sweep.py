r"""Sweeps over the step size: :func:`numerics.nn.train` at every eta, each finished run saved and resumable."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

from analysis.atomic import check_writable, exclusive, write_atomic
from analysis.errors import OutputError, UserInputError

from ..serialize import finite
from .comparison import uv_prediction
from .training import Training, train


def _sweep_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
    if out is None:
        return _sweep(etas, None, progress, on_start, settings)
    if Path(out).suffix != ".json":
        raise UserInputError(f"--out must end in .json, got {out!r}")
    check_writable(out, "--out")
    with exclusive(out, "--out"):
        return _sweep(etas, out, progress, on_start, settings)


def _sweep(etas, out, progress, on_start, settings) -> list:
    settings = {k: v for k, v in settings.items()}
    for bad in ("eta", "progress"):
        settings.pop(bad, None)
    # threads change round-off only; the budget changes nothing once the run is allowed
    key_settings = {k: v for k, v in settings.items() if k not in ("threads", "max_memory", "force")}
    key = _sweep_key(key_settings)
    stored = {}
    if out is not None:
        target = Path(out)
        if target.exists():
            try:
                content = json.loads(target.read_text())
                stored_key, stored = content["key"], dict(content["runs"])
            except (OSError, ValueError, KeyError, TypeError):
                raise UserInputError(f"--out {out} exists and is not a sweep file of this command; use another "
                                     f"file") from None
            if stored_key != key:
                raise UserInputError(f"--out {out} holds a sweep with other settings; use another file")
    runs = []
    for index, eta in enumerate(etas):
        done = repr(float(eta)) in stored
        if on_start:
            on_start(index, eta, done)
        if done:
            try:
                runs.append(Training.from_dict(stored[repr(float(eta))]))
            except (KeyError, TypeError, AttributeError):
                raise UserInputError(f"--out {out} holds eta={float(eta)!r} in a form this command did not write; "
                                     f"use another file") from None
            continue
        run = train(eta=float(eta), progress=progress, **settings)
        run = dataclasses.replace(run, uv_prediction=_comparison(run))
        runs.append(run)
        if out is not None:
            stored[repr(float(eta))] = finite(run.to_dict())
            try:
                write_atomic(out, json.dumps({"key": key, "settings": key_settings, "runs": stored},
                                             allow_nan=False, default=str), private=False)
            except OSError as error:
                kept = len(stored) - 1
                raise OutputError(f"cannot write --out {out}: {error.strerror or error}; it keeps the {kept} eta(s) "
                                  f"finished before, eta={float(eta)!r} is lost") from None
    return runs


def _comparison(run: Training):
    """The UV model's prediction for ``run`` (:func:`uv_prediction`), or ``None`` where there is none: no initial
    sharpness, or an eta*lam0 the UV model refuses (beyond the value bounds: ``eta=1e300``; negative: a concave
    loss) or under Adam (the UV model runs GD; Adam's eta is not on its axis). The finished run is kept either way; a
    refused comparison is said in one line on stderr."""
    if not run.eta_lam0 or run.optimizer == "adam":
        return None
    try:
        return uv_prediction(run.eta_lam0, run.width)
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
