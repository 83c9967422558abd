"""One report run: its sizes (:class:`Settings`), what its sections share (:class:`Run`), and :func:`build`, which
computes every section (or takes it from the checkpoint), writes the files and compiles the PDF."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np

from .. import sweeps
from ..axis import Axis
from ..requests import Problem, SweepRequest
from .document import tex_document
from .latex import LatexError, build_pdf, latex_engine
from .outputs import (FIGURE_FORMATS, Outputs, checkpoint_key, checkpoint_name, finished_sections, prepare_directory,
                      writer_lock)
from .record import record, versions
from .sections import FIGURES, SECTIONS


class Settings:
    """Sizes of the default and the ``--quick`` report."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.name = "quick" if quick else "full"
        self.phase = ("lam=0.2:5:24", "n=1:4096:7:log", "500") if quick else ("lam=0.2:5:48", "n=1:4096:13:log", "1000")
        self.lyapunov_points = "80" if quick else "400"
        self.lyapunov_steps = "3000" if quick else "20000"
        self.doublings = "6" if quick else "14"  # 14 flips: Feigenbaum's alpha to 9 digits, delta to 8
        self.widths = "1,16,256,4096" if quick else "1,4,16,64,256,1024,4096"
        self.xy_etas = (0.07, 0.1, 0.13) if quick else tuple(float(e) for e in np.round(np.linspace(0.065, 0.13, 8), 4))
        self.nn_steps = "150" if quick else "600"
        self.nn_samples = "256" if quick else "512"
        # central flows: uv-eos for flow_time steps; the MLP (width, samples) for flow_steps, ~10 s quick, ~1 min full
        self.flow_time = 100 if quick else 300
        self.flow_steps, self.flow_samples, self.flow_width = (40, 32, 8) if quick else (150, 64, 16)


class Run:
    """What the sections of one report run share: where they write, the sizes, and the Dask client."""

    def __init__(self, target: Path, settings: Settings, scheduler, client, outputs: Outputs):
        self.target, self.settings, self.quick = target, settings, settings.quick
        self.scheduler, self.client, self.outputs = scheduler, client, outputs
        self.scheduler_args = ["--scheduler", scheduler] if scheduler else []
        self.stores = target / "sweeps" / settings.name

    def figure_paths(self, name: str) -> list:
        return [str(self.target / f"{name}.{ext}") for ext in FIGURE_FORMATS]

    def figure(self, name: str, draw) -> None:
        for ext in FIGURE_FORMATS:
            self.outputs.write_with(f"{name}.{ext}", draw)

    def discard(self, name: str) -> None:
        """Remove figure ``name`` (each format) where an earlier run of the report wrote it: a part computed no
        longer (PyTorch gone) leaves no stale figure behind."""
        for ext in FIGURE_FORMATS:
            self.outputs.remove(f"{name}.{ext}")

    def sweep(self, model: str, axes: list, measure: str, store: Path, steps: str, tile: int, init=None,
              values=None) -> dict:
        """A sweep on the report's client, recorded with the ``sharpness sweep`` command that gives it."""
        request = SweepRequest(Problem(model, values=values or {}, init=init or {}),
                               tuple(Axis.parse(axis) for axis in axes), str(store), measure, int(steps), tile,
                               self.scheduler)
        return record(request, client=self.client)


def planned_files(settings: Settings) -> list:
    names = ["results.json", "report.tex", checkpoint_name(settings)]
    names += [f"{figure}.{ext}" for figure in FIGURES for ext in FIGURE_FORMATS]
    return names + (["report.pdf"] if latex_engine() else [])


def build(out: str, quick: bool = False, scheduler: str | None = None, progress=None, overwrite: bool = False) -> dict:
    """Write ``OUT/report.tex``, ``OUT/results.json``, the figures (PNG and PDF) and, with a LaTeX engine,
    ``OUT/report.pdf``; returns the results dictionary. Refuses (before any work) to replace a file it did not
    write unless ``overwrite``; resumes an interrupted run (:mod:`numerics.report`)."""
    target = Path(out)
    settings = Settings(quick)
    # One writer per directory: a second report into it at the same time is refused in one line (it would find
    # the first one's files before their hashes are recorded and call them foreign).
    with writer_lock(target):
        return _build(target, out, settings, quick, scheduler, progress, overwrite)


def _build(target: Path, out: str, settings: Settings, quick: bool, scheduler, progress, overwrite: bool) -> dict:
    outputs = Outputs(target, overwrite)
    outputs.check(planned_files(settings))  # before anything is created or computed
    sections = {}
    with sweeps.connect(scheduler) as client:  # before any work: a wrong --scheduler fails at once
        prepare_directory(target, settings)
        checkpoint = checkpoint_name(settings)
        key = checkpoint_key(target, settings, scheduler)
        finished = finished_sections(outputs, checkpoint, key)
        run = Run(target, settings, scheduler, client, outputs)
        for section in SECTIONS:
            if section.name in finished and all(outputs.owned(f"{figure}.{ext}") for figure in section.figures
                                                for ext in FIGURE_FORMATS):
                sections[section.name] = finished[section.name]
            else:
                sections[section.name] = section.compute(run)
                outputs.write_text(checkpoint, json.dumps({"key": key, "sections": sections}, allow_nan=True))
            if progress:
                progress(section.name)

    scheduler_args = ["--scheduler", scheduler] if scheduler else []
    command = "sharpness report " + shlex.join(["--out", out] + (["--quick"] if quick else []) + scheduler_args)
    results = {"command": command, "quick": quick, "versions": versions(), "sections": sections,
               "figures": {name: run.figure_paths(name) for name in FIGURES
                           if all(outputs.owned(f"{name}.{ext}") for ext in FIGURE_FORMATS)}}
    outputs.write_text("results.json", json.dumps(results, indent=1, allow_nan=True))
    outputs.write_text("report.tex", tex_document(results))
    try:
        results["pdf"] = build_pdf(outputs, "report.tex")
    except LatexError as error:  # recorded, then raised: the .tex, results.json and the figures stay
        results["pdf"] = {"built": False, "engine": latex_engine(), "error": str(error)}
        outputs.write_text("results.json", json.dumps(results, indent=1, allow_nan=True))
        raise
    outputs.write_text("results.json", json.dumps(results, indent=1, allow_nan=True))
    outputs.remove(checkpoint)
    return results
