r"""``sharpness report``: the whole analysis on defaults, as a LaTeX report, a results file and figures.

Every number comes from the public Python API (:mod:`analysis`, :mod:`numerics`); each section records, beside
its JSON (the result's ``to_dict()``), the equivalent ``sharpness ...`` command, so a reader can rerun any number
from the command line and get the same answer (the tests do).

What a rerun in the same ``--out`` finds, and why:

* Sweeps run on Dask (a local cluster, or ``--scheduler``, connected before any work so that a wrong address
  fails at once) into Zarr stores under ``OUT/sweeps/quick`` or ``OUT/sweeps/full``: one directory per setting,
  so a ``--quick`` report and a full one share an ``--out`` and each resumes its own stores.
* The report never replaces a file it did not write. It records every file it writes, with its SHA-256, in
  ``OUT/.sharpness-report.json``; a file that exists and is not recorded with its current content (a user's own
  ``report.tex``, or a report file edited since) is refused, before any work, unless ``--overwrite``. Files are
  written to a temporary name and renamed, the new hash recorded first, so an interruption never leaves a file
  of the report unrecorded.
* Interrupted (Ctrl-C, a lost scheduler), the report keeps its finished sections in a checkpoint,
  ``OUT/.sharpness-report-quick.json`` (or ``-full``), keyed by the output directory, the settings, the scheduler
  and the package versions; a rerun takes those sections (and their figures, if unchanged) from it, resumes the
  interrupted sweep, and computes the rest. The checkpoint is removed when the report is complete, so a rerun of a
  complete report recomputes everything but the finished sweeps.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from analysis.errors import UserInputError

from . import sweeps

FIGURES = ("uv_flow", "uv_trajectories", "uv_phase_diagram", "uv_eos_orbit", "uv_eos_lyapunov", "feigenbaum_delta",
           "xy_quartic_gap", "crosscheck_errors", "nn_sharpness")
SECTIONS = ("fixed_points", "trajectories", "phase_diagram", "cascade", "lyapunov_sweep", "chebyshev",
            "xy_quartic", "width_scan", "crosscheck", "nn")
STEPS = len(SECTIONS)  # progress reports per report run, one per section
PACKAGES = ("sympy", "mpmath", "numpy", "scipy", "numba", "networkx", "matplotlib", "dask", "distributed",
            "xarray", "zarr", "torch", "scikit-learn")
MANIFEST = ".sharpness-report.json"
FIGURE_FORMATS = ("png", "pdf")


def record(argv: list, compute) -> dict:
    """``compute()`` (a library call returning a result or a JSON-ready object), recorded with the command line
    ``sharpness ARGV --json`` that prints the same JSON."""
    from .cli.render import finite

    result = compute()
    payload = result.to_dict() if hasattr(result, "to_dict") else result
    return {"command": "sharpness " + shlex.join(list(argv) + ["--json"]),
            "result": json.loads(json.dumps(finite(payload), allow_nan=False))}


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


class Settings:
    """Sizes of the default and the ``--quick`` report."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.name = "quick" if quick else "full"
        self.phase = ("lam=0.2:5:24", "n=1:4096:7:log", "500") if quick else ("lam=0.2:5:48", "n=1:4096:13:log", "1000")
        self.lyapunov_points = "80" if quick else "400"
        self.lyapunov_steps = "3000" if quick else "20000"
        self.doublings = "6" if quick else "12"
        self.widths = "1,16,256,4096" if quick else "1,4,16,64,256,1024,4096"
        self.xy_etas = (0.07, 0.1, 0.13) if quick else tuple(float(e) for e in np.round(np.linspace(0.065, 0.13, 8), 4))
        self.nn_steps = "150" if quick else "600"
        self.nn_samples = "256" if quick else "512"


# ------------------------------------------------------------------------------------------------------------------
# The files of the report


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Outputs:
    """The files the report writes in ``--out``, recorded with their SHA-256 in :data:`MANIFEST` so that a rerun
    replaces its own files and never a file it did not write (unless ``overwrite``).

    A file is written under a temporary name, its hash added to the manifest, then renamed into place, and only
    then the manifest keeps the new hash alone: interrupted at any point, the file on disk is one whose hash is
    recorded."""

    def __init__(self, target: Path, overwrite: bool):
        self.target, self.overwrite = target, overwrite
        self.files: dict[str, list[str]] = {}
        manifest = target / MANIFEST
        if not os.path.lexists(manifest):
            return
        try:
            data = json.loads(manifest.read_text())
            files = data["files"]
            if not (isinstance(files, dict) and all(isinstance(v, list) for v in files.values())):
                raise TypeError
            self.files = {str(k): [str(h) for h in v] for k, v in files.items()}
        except (OSError, ValueError, KeyError, TypeError):
            if not overwrite:
                raise UserInputError(f"{manifest} is not a report manifest (it records the files the report wrote); "
                                     "pass --overwrite to replace it, or choose another --out") from None

    def owned(self, name: str) -> bool:
        """Whether ``name`` exists as the report last wrote it."""
        path = self.target / name
        return path.is_file() and not path.is_symlink() and _sha256(path) in self.files.get(name, ())

    def foreign(self, name: str) -> bool:
        """Whether writing ``name`` would replace something the report did not write (a directory always counts)."""
        path = self.target / name
        if path.is_dir() and not path.is_symlink():
            return True
        return os.path.lexists(path) and not self.overwrite and not self.owned(name)

    def check(self, names) -> None:
        """Refuse, in one line, if any of ``names`` would replace a file the report did not write."""
        clashes = [name for name in names if self.foreign(name)]
        if not clashes:
            return
        first = self.target / clashes[0]
        if first.is_dir() and not first.is_symlink():
            raise UserInputError(f"{first} is a directory where the report writes a file; remove it or choose "
                                 "another --out")
        more = f" (and {len(clashes) - 1} more of the report's files)" if len(clashes) > 1 else ""
        raise UserInputError(f"{first}{more} exists and was not written by sharpness report; pass --overwrite to "
                             "replace it, or choose another --out")

    def _staging(self, name: str) -> Path:
        """A new temporary file beside ``name`` (created exclusively: it cannot be a user's file) with the same
        suffix (matplotlib picks the format by it)."""
        stem, suffix = os.path.splitext(name)
        try:
            handle, staged = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{suffix}", dir=self.target)
        except OSError as error:
            raise UserInputError(f"cannot write to --out {self.target}: {error.strerror or error}") from None
        os.close(handle)
        return Path(staged)

    def _save(self) -> None:
        staged = self._staging(MANIFEST)
        try:
            staged.write_text(json.dumps({"written_by": "sharpness report", "files": self.files}, indent=1,
                                         sort_keys=True))
            os.replace(staged, self.target / MANIFEST)
        finally:
            staged.unlink(missing_ok=True)

    def _place(self, name: str, staged: Path) -> Path:
        path = self.target / name
        try:
            self.check([name])
            digest = _sha256(staged)
            self.files[name] = [*self.files.get(name, []), digest]
            self._save()
            os.replace(staged, path)
            self.files[name] = [digest]
            self._save()
        except OSError as error:
            raise UserInputError(f"cannot write {path}: {error.strerror or error}") from None
        finally:
            staged.unlink(missing_ok=True)
        return path

    def write_with(self, name: str, write) -> Path:
        """``write(path)`` writes the file (a figure, text) at a temporary path; then it is placed (``_place``)."""
        staged = self._staging(name)
        try:
            write(str(staged))
        except OSError as error:
            staged.unlink(missing_ok=True)
            raise UserInputError(f"cannot write {self.target / name}: {error.strerror or error}") from None
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return self._place(name, staged)

    def write_text(self, name: str, text: str) -> Path:
        return self.write_with(name, lambda path: Path(path).write_text(text))

    def write_bytes(self, name: str, data: bytes) -> Path:
        return self.write_with(name, lambda path: Path(path).write_bytes(data))

    def remove(self, name: str) -> None:
        if self.owned(name):
            (self.target / name).unlink()
        if self.files.pop(name, None) is not None:
            self._save()


def _prepare_directory(target: Path, settings: Settings) -> None:
    """Create ``--out`` and its sweep directory and check that it is writable (with a file name of our own: a
    fixed probe name could be a user's file)."""
    try:
        (target / "sweeps" / settings.name).mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=target)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise UserInputError(f"cannot write to --out {target}: {error.strerror or error}") from None


def _latex_engine():
    return shutil.which("pdflatex") or shutil.which("tectonic")


def _planned_files(settings: Settings) -> list:
    names = ["results.json", "report.tex", _checkpoint_name(settings)]
    names += [f"{figure}.{ext}" for figure in FIGURES for ext in FIGURE_FORMATS]
    return names + (["report.pdf"] if _latex_engine() else [])


# ------------------------------------------------------------------------------------------------------------------
# Checkpoint of finished sections


def _checkpoint_name(settings: Settings) -> str:
    return f".sharpness-report-{settings.name}.json"


def _checkpoint_key(target: Path, settings: Settings, scheduler) -> str:
    """What the finished sections depend on: a checkpoint written under another key is not used."""
    try:
        toolkit = metadata.version("sharpness-dynamics")
    except metadata.PackageNotFoundError:
        toolkit = None
    facts = {"out": str(target.resolve()), "settings": vars(settings), "scheduler": scheduler,
             "versions": versions(), "toolkit": toolkit}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def _finished_sections(outputs: Outputs, name: str, key: str) -> dict:
    """The sections of the interrupted run with this key, if the report wrote the checkpoint and it is intact."""
    if not outputs.owned(name):
        return {}
    try:
        data = json.loads((outputs.target / name).read_text())
    except (OSError, ValueError):
        return {}
    return data.get("sections", {}) if isinstance(data, dict) and data.get("key") == key else {}


# ------------------------------------------------------------------------------------------------------------------
# The sections: each computes its record(s) and draws its figures


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

    def sweep(self, model: str, axes: list, measure: str, store: Path, steps: str, tile: int, init=None,
              values=None) -> dict:
        """A sweep on the report's client, recorded with the ``sharpness sweep`` command that gives it."""
        values, init = dict(values or {}), dict(init or {})
        argv = (["sweep", model] + [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
                + [a for k, v in init.items() for a in ("--init", f"{k}={v}")]
                + [a for axis in axes for a in ("--vary", axis)]
                + ["--measure", measure, "--out", str(store), "--steps", steps, "--tile", str(tile), "--quiet",
                   *self.scheduler_args])
        return record(argv, lambda: sweeps.run_sweep(
            model, None, {}, values, init, [sweeps.parse_axis(axis) for axis in axes], measure, str(store),
            int(steps), self.scheduler, (tile, tile), client=self.client))


def _set_args(values: dict) -> list:
    return [a for k, v in values.items() for a in ("--set", f"{k}={v}")]


FLOW_VALUES = {"eta": "0.5", "y": "1", "n": "4"}


def section_fixed_points(run: Run) -> dict:
    from analysis import load_model

    from . import plots
    from .iterated_map import IteratedMap

    uv_mup = load_model("uv", "mup")
    section = record(["fixed-points", "uv", "-p", "mup", *_set_args(FLOW_VALUES)],
                     lambda: uv_mup.fixed_points_at(**FLOW_VALUES))
    flow_map = IteratedMap(uv_mup, **FLOW_VALUES)
    run.figure("uv_flow", lambda p: plots.flow_figure(flow_map, uv_mup.fixed_points_at(**FLOW_VALUES), p,
                                                      box=[(-3.5, 6), (0.05, 11)]))
    return section


def section_trajectories(run: Run) -> dict:
    from analysis import load_model

    from . import plots
    from .iterated_map import IteratedMap

    trajectories = {}
    for label, parameterization, eta, n, f0, lam0 in (
            ("progressive sharpening", "mup", "0.9", "4", "0.01", "0.3"),
            ("edge of stability", "mup", "1.1", "4", "0.01", "0.3"),
            ("catapult", "sp", "2.5", "100", "0.05", "1")):
        values = {"eta": eta, "n": n, "y": "1"}
        trajectories[label] = record(
            ["run", "uv", "-p", parameterization, *_set_args(values), "--init", f"f={f0}", "--init", f"lam={lam0}",
             "--steps", "200"],
            lambda: IteratedMap(load_model("uv", parameterization), **values).run(200, init={"f": f0, "lam": lam0}))
    run.figure("uv_trajectories",
               lambda p: plots.trajectories_figure({k: v["result"] for k, v in trajectories.items()}, p))
    return trajectories


def section_phase_diagram(run: Run) -> dict:
    from . import plots

    lam_axis, n_axis, phase_steps = run.settings.phase
    store = run.stores / "uv_phase.zarr"
    section = run.sweep("uv", [lam_axis, n_axis], "regime", store, phase_steps, 8, init={"f": "0"},
                        values={"eta": "1", "y": "1"})
    phase = sweeps.load(store)
    run.figure("uv_phase_diagram", lambda p: plots.sweep_figure(
        phase, p, "uv (SP), eta = 1, y = 1, f0 = 0: regime over (eta lam0, n)"))
    section["grid"] = {"lam": phase["lam"].values.tolist(), "n": phase["n"].values.tolist(),
                       "regime": phase["regime"].values.tolist()}
    return section


def section_cascade(run: Run) -> dict:
    from . import plots
    from .flips import cascade
    from .iterated_map import IteratedMap

    doublings = run.settings.doublings
    section = record(["cascade", "uv-eos", "--vary", "k", "--doublings", doublings, "--digits", "40", "--quiet"],
                     lambda: cascade("uv-eos", "k", int(doublings), 40))
    flips = [b["parameter"] for b in section["result"]["bifurcations"]]
    cubic = IteratedMap("uv-eos", k=1)
    diagram = cubic.orbit_diagram("k", np.linspace(0.8, 2.0, 800 if run.quick else 3000),
                                  1000 if run.quick else 3000, 150)
    run.figure("uv_eos_orbit", lambda p: plots.orbit_figure(
        diagram, p, "uv-eos orbit diagram; red: flips found by the multiplier condition", flips=flips))
    run.figure("feigenbaum_delta", lambda p: plots.delta_figure(section["result"], p))
    return section


def section_lyapunov_sweep(run: Run) -> dict:
    from . import plots

    store = run.stores / "uv_eos_lyapunov.zarr"
    section = run.sweep("uv-eos", [f"k=0.8:2:{run.settings.lyapunov_points}"], "lyapunov", store,
                        run.settings.lyapunov_steps, 32)
    lyapunov = sweeps.load(store)
    section["values"] = {"k": lyapunov["k"].values.tolist(), "lyapunov": lyapunov["lyapunov"].values.tolist()}
    run.figure("uv_eos_lyapunov", lambda p: plots.sweep_figure(
        lyapunov, p, "uv-eos: largest Lyapunov exponent; ln 3 at k = 2"))
    return section


def section_chebyshev(run: Run) -> dict:
    from .iterated_map import IteratedMap

    return record(["lyapunov", "uv-eos", "--set", "k=2", "--steps", "200000"],
                  lambda: IteratedMap("uv-eos", k="2").lyapunov(200_000))


def section_xy_quartic(run: Run) -> dict:
    from . import plots
    from .iterated_map import IteratedMap

    runs = {}
    for eta in run.settings.xy_etas:
        runs[f"{eta:g}"] = record(
            ["run", "xy-quartic", "--set", f"eta={eta:g}", "--init", "x=4", "--init", "y=0.3", "--steps", "20000",
             "--every", "1000"],
            lambda: IteratedMap("xy-quartic", eta=f"{eta:g}").run(20_000, init={"x": "4", "y": "0.3"}, every=1000))
    run.figure("xy_quartic_gap", lambda p: plots.gap_figure({k: v["result"] for k, v in runs.items()}, p))
    return runs


def section_width_scan(run: Run) -> dict:
    from . import plots
    from .crosscheck import width_scan

    widths = run.settings.widths
    section = record(["width-scan", "uv", "--set", "eta=1.1", "--set", "y=1", "--steps", "200", "--widths", widths,
                      "--quiet"],
                     lambda: width_scan("uv", [int(w) for w in widths.split(",")], 200, 0, eta="1.1", y="1"))
    run.figure("crosscheck_errors", lambda p: plots.width_scan_figure(section["result"], p))
    return section


def section_crosscheck(run: Run) -> dict:
    from .crosscheck import crosscheck

    return record(["crosscheck", "uv", "--width", "64", "--set", "eta=0.5", "--set", "y=1", "--steps", "100",
                   "--seed", "0", "--quiet"],
                  lambda: crosscheck("uv", 64, 100, 0, eta="0.5", y="1"))


def section_nn(run: Run) -> dict:
    from . import plots

    try:
        import torch  # noqa: F401
    except ImportError:
        run.figure("nn_sharpness", lambda p: plots.note_figure("PyTorch is not installed: no real-network run", p))
        return {"command": None, "result": None, "note": "PyTorch not installed (pip install -e .[torch])"}
    from . import nn

    steps, samples = run.settings.nn_steps, run.settings.nn_samples

    def nn_run():
        result = nn.train("digits", "mlp", 0.15, int(steps), 64, 0, 5, 30, int(samples))
        result["uv_prediction"] = nn.uv_prediction(result["eta_lam0"], 64) if result["eta_lam0"] else None
        return result

    section = record(["nn", "--arch", "mlp", "--eta", "0.15", "--steps", steps, "--samples", samples, "--quiet"],
                     nn_run)
    run.figure("nn_sharpness", lambda p: plots.nn_figure([section["result"]], p))
    return section


# name -> (function computing the section and drawing its figures, the figures it draws); in report order.
SECTION_STEPS = {
    "fixed_points": (section_fixed_points, ("uv_flow",)),
    "trajectories": (section_trajectories, ("uv_trajectories",)),
    "phase_diagram": (section_phase_diagram, ("uv_phase_diagram",)),
    "cascade": (section_cascade, ("uv_eos_orbit", "feigenbaum_delta")),
    "lyapunov_sweep": (section_lyapunov_sweep, ("uv_eos_lyapunov",)),
    "chebyshev": (section_chebyshev, ()),
    "xy_quartic": (section_xy_quartic, ("xy_quartic_gap",)),
    "width_scan": (section_width_scan, ("crosscheck_errors",)),
    "crosscheck": (section_crosscheck, ()),
    "nn": (section_nn, ("nn_sharpness",)),
}


# ------------------------------------------------------------------------------------------------------------------


def build(out: str, quick: bool = False, scheduler: str | None = None, progress=None, overwrite: bool = False) -> dict:
    """Write ``OUT/report.tex``, ``OUT/results.json``, the figures (PNG and PDF) and, with a LaTeX engine,
    ``OUT/report.pdf``; returns the results dictionary. Refuses (before any work) to replace a file it did not
    write unless ``overwrite``; resumes an interrupted run (module docstring)."""
    target = Path(out)
    settings = Settings(quick)
    outputs = Outputs(target, overwrite)
    outputs.check(_planned_files(settings))  # before anything is created or computed
    sections = {}
    with sweeps.connect(scheduler) as client:  # before any work: a wrong --scheduler fails at once
        _prepare_directory(target, settings)
        checkpoint = _checkpoint_name(settings)
        key = _checkpoint_key(target, settings, scheduler)
        finished = _finished_sections(outputs, checkpoint, key)
        run = Run(target, settings, scheduler, client, outputs)
        for name in SECTIONS:
            compute, figures = SECTION_STEPS[name]
            if name in finished and all(outputs.owned(f"{figure}.{ext}") for figure in figures
                                        for ext in FIGURE_FORMATS):
                sections[name] = finished[name]
            else:
                sections[name] = compute(run)
                outputs.write_text(checkpoint, json.dumps({"key": key, "sections": sections}, allow_nan=True))
            if progress:
                progress(name)

    scheduler_args = ["--scheduler", scheduler] if scheduler else []
    command = "sharpness report " + shlex.join(["--out", out] + (["--quick"] if quick else []) + scheduler_args)
    results = {"command": command, "quick": quick, "versions": versions(), "sections": sections,
               "figures": {name: run.figure_paths(name) for name in FIGURES}}
    outputs.write_text("results.json", json.dumps(results, indent=1, allow_nan=True))
    outputs.write_text("report.tex", _tex(results, settings))
    results["pdf"] = _pdf(outputs, "report.tex")
    outputs.write_text("results.json", json.dumps(results, indent=1, allow_nan=True))
    outputs.remove(checkpoint)
    return results


def _pdf(outputs: Outputs, tex: str) -> dict:
    """Compile ``tex`` in a scratch directory (the engine's auxiliary files never land in ``--out``) and place
    ``report.pdf`` like the report's other files."""
    engine = _latex_engine()
    if engine is None:
        return {"built": False, "note": "no LaTeX engine (pdflatex or tectonic) found; compile report.tex yourself"}
    with tempfile.TemporaryDirectory(prefix=".latex-", dir=outputs.target) as scratch:
        if Path(engine).name.startswith("tectonic"):
            runs = [[engine, "--outdir", scratch, tex]]
        else:  # twice, for references
            runs = [[engine, "-interaction=nonstopmode", f"-output-directory={scratch}", tex]] * 2
        for argv in runs:
            done = subprocess.run(argv, cwd=outputs.target, capture_output=True)
        pdf = Path(scratch) / (Path(tex).stem + ".pdf")
        built = done.returncode == 0 and pdf.is_file()
        if built:
            outputs.write_bytes("report.pdf", pdf.read_bytes())
    return {"built": built, "engine": engine}


def _tex(results: dict, settings: Settings) -> str:
    from analysis import load_model
    from analysis.latex import PREAMBLE, body, escape

    sections = results["sections"]
    cascade = sections["cascade"]["result"]
    cheb = sections["chebyshev"]["result"]
    check = sections["crosscheck"]["result"]
    lines = PREAMBLE + [r"\title{Sharpness dynamics of gradient descent: the UV model and beyond}",
                        r"\date{}", r"\begin{document}", r"\maketitle",
                        escape(f"Produced by: {results['command']}. Every number below is in results.json with the "
                               "command that gives it.")]

    def fig(name, caption):
        lines.extend([r"\begin{figure}[ht]\centering", rf"\includegraphics[width=0.85\linewidth]{{{name}.pdf}}",
                      rf"\caption{{{escape(caption).strip()}}}", r"\end{figure}"])

    lines.append(r"\section{Derived function-space dynamics}")
    derivation = load_model("uv", "sp")
    lines += body([("uv", "sp", [derivation.result(n) for n in ("function_map", "sharpness", "fixed_points",
                                                                "eos_map", "minima")])], level="subsection")
    lines.append(r"\clearpage\section{Fixed points, trajectories and the phase diagram}")
    fig("uv_flow", "UV model (muP, eta = 0.5, y = 1): GD displacement field in the (f, lam) plane, fixed points, "
                   "and the realizable region lam >= 2|f|.")
    fig("uv_trajectories", "Sharpness trajectories with their regimes shaded: progressive sharpening and the "
                           "edge of stability (muP, n = 4), a catapult (SP, n = 100).")
    fig("uv_phase_diagram", "Regime over (eta lam0, n) in SP (the paper's phase diagram).")
    lines.append(r"\clearpage\section{Route to chaos on the EoS manifold}")
    flips = ", ".join(f"{b['parameter_digits'][:14]}" for b in cascade["bifurcations"])
    lines.append(escape(f"Flips (periods 1 to {cascade['bifurcations'][-1]['period']}): {flips}. Last ratio "
                        f"delta = {cascade['delta_digits'][-1][:14]} ({cascade['correct_digits'][-1]} correct digits); "
                        f"Aitken: {cascade['delta_aitken'][-1][:16] if cascade['delta_aitken'] else '-'}. "
                        f"Lyapunov exponent at the Chebyshev point k = 2: {cheb['exponents'][0]:.7f} "
                        f"(stderr {cheb['stderr'][0]:.1e}; ln 3 = {np.log(3):.7f})."))
    fig("uv_eos_orbit", "Orbit diagram of z -> (1+k) z - k z^3 with the flips marked.")
    fig("uv_eos_lyapunov", "Largest Lyapunov exponent against k.")
    fig("feigenbaum_delta", "Convergence of the ratio estimates of Feigenbaum's delta.")
    lines.append(r"\clearpage\section{Minimalist models, cross-checks, a real network}")
    fig("xy_quartic_gap", "xy-quartic: final sharpness against 2/eta.")
    lines.append(escape(f"Cross-check (SP, width 64, 100 steps): max |error f| = {check['max_abs_error_f']:.1e}, "
                        f"max |error lam| = {check['max_abs_error_lam']:.1e}, max relative error of the sharpness "
                        f"= {check['max_rel_error_sharpness']:.1e}."))
    fig("crosscheck_errors", "Final NTK and map-vs-GD error against the width.")
    fig("nn_sharpness", "MLP on digits, full-batch GD: sharpness times eta/2.")
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"
