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

from analysis.errors import ToolkitError, UserInputError

from . import sweeps
from .serialize import finite

FIGURES = ("uv_flow", "uv_trajectories", "uv_phase_diagram", "uv_eos_orbit", "uv_eos_lyapunov", "feigenbaum_delta",
           "xy_quartic_gap", "crosscheck_errors", "nn_sharpness", "uv_flip_curves", "momentum_sharpness")
SECTIONS = ("fixed_points", "trajectories", "phase_diagram", "cascade", "lyapunov_sweep", "chebyshev",
            "xy_quartic", "width_scan", "crosscheck", "nn", "continuation", "momentum")
STEPS = len(SECTIONS)  # progress reports per report run, one per section
PACKAGES = ("sympy", "mpmath", "numpy", "scipy", "numba", "networkx", "matplotlib", "dask", "distributed",
            "xarray", "zarr", "torch", "scikit-learn")
MANIFEST = ".sharpness-report.json"
FIGURE_FORMATS = ("png", "pdf")


def record(argv: list, compute) -> dict:
    """``compute()`` (a library call returning a result or a JSON-ready object), recorded with the command line
    ``sharpness ARGV --json`` that prints the same JSON."""
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
        self.doublings = "6" if quick else "14"  # 14 flips: Feigenbaum's alpha to 9 digits, delta to 8
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
    """The TeX engine the report uses: ``latexmk`` (runs pdflatex as often as needed), ``pdflatex`` or
    ``tectonic``, the first found on PATH; None if there is none."""
    return shutil.which("latexmk") and shutil.which("pdflatex") and shutil.which("latexmk") or \
        shutil.which("pdflatex") or shutil.which("tectonic")


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
        return {"command": None, "result": None, "note": "PyTorch not installed (`pip install -e .[torch]`)"}
    argv, compute = network_run(int(run.settings.nn_steps), int(run.settings.nn_samples))
    section = record(argv, compute)
    run.figure("nn_sharpness", lambda p: plots.nn_figure([section["result"]], p))
    return section


def network_run(steps: int, samples: int, eta: float = 0.15, optimizer: str = "gd", beta: str = "0") -> tuple:
    """``(argv, compute)`` of a real-network run of the report: the ``sharpness nn`` command line and the library
    call that prints the same JSON (up to ``elapsed``, the wall time): the MLP on the first ``samples`` digits at
    ``eta``, sharpness every 5 steps with at most 30 Hessian-vector products per measurement."""
    from analysis.optimizers import check_beta

    from .nn import eta_sweep

    momentum = ["--optimizer", optimizer, "--set", f"beta={beta}"] if optimizer != "gd" else []
    argv = ["nn", "--arch", "mlp", "--eta", f"{eta:g}", *momentum, "--steps", str(steps), "--samples", str(samples),
            "--measure-every", "5", "--max-hvps", "30", "--quiet"]
    settings = dict(dataset="digits", data=None, arch="mlp", model=None, optimizer=optimizer,
                    beta=check_beta(float(beta)) if optimizer != "gd" else 0.0, dtype="float64", steps=int(steps),
                    width=64, seed=0, measure_every=5, max_hvps=30, samples=int(samples), top_k=1, tol=None,
                    time_budget=None, threads=1)
    return argv, lambda: eta_sweep([eta], **settings)[0]


def section_momentum(run: Run) -> dict:
    """Sharpness under GD, heavy-ball and Nesterov at one eta, each against its own threshold
    (``numerics.momentum_report``)."""
    from .momentum_report import momentum_section

    return momentum_section(run)


# name -> (function computing the section and drawing its figures, the figures it draws); in report order.
def section_continuation(run: Run) -> dict:
    """The UV model's flip curves in the (eta, y) plane by continuation (``numerics.continuation.report``)."""
    from .continuation.report import continuation_section

    return continuation_section(run)


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
    "continuation": (section_continuation, ("uv_flip_curves",)),
    "momentum": (section_momentum, ("momentum_sharpness",)),
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
    try:
        results["pdf"] = _pdf(outputs, "report.tex")
    except LatexError as error:  # recorded, then raised: the .tex, results.json and the figures stay
        results["pdf"] = {"built": False, "engine": _latex_engine(), "error": str(error)}
        outputs.write_text("results.json", json.dumps(results, indent=1, allow_nan=True))
        raise
    outputs.write_text("results.json", json.dumps(results, indent=1, allow_nan=True))
    outputs.remove(checkpoint)
    return results


class LatexError(ToolkitError, RuntimeError):
    """The TeX engine reported an error on the report (the message names the first one and the log)."""


def _first_error(log: str) -> str:
    """The first ``! ...`` error of a TeX log, with its ``l.N`` line, in one line."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!"):
            where = next((l.split(" ", 1)[0] for l in lines[i + 1:i + 12] if l.startswith("l.")), "")
            return f"{line[1:].strip()}{f' ({where})' if where else ''}"
    return ""


def compile_latex(tex: Path, scratch: Path, engine: str | None = None) -> tuple:
    """Compile ``tex`` with ``engine`` (default :func:`_latex_engine`) into ``scratch``; returns ``(pdf path,
    log text)``. Raises :class:`LatexError` (one line: the engine, the first error and where) when the engine
    exits with an error, its log holds an error (``!`` lines) or no PDF appears."""
    engine = engine or _latex_engine()
    if engine is None:
        raise LatexError("no LaTeX engine (pdflatex, latexmk or tectonic) found")
    # Absolute: the engine runs in the document's directory, where a relative path (`--out report`) means nothing.
    tex, scratch = Path(tex).resolve(), Path(scratch).resolve()
    name = Path(engine).name
    if name.startswith("tectonic"):
        runs = [[engine, "--keep-logs", "--outdir", str(scratch), str(tex)]]
    elif name.startswith("latexmk"):
        runs = [[engine, "-pdf", "-interaction=nonstopmode", "-halt-on-error", f"-outdir={scratch}", str(tex)]]
    else:  # twice, for the references
        runs = [[engine, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={scratch}", str(tex)]] * 2
    log_path, pdf = scratch / (tex.stem + ".log"), scratch / (tex.stem + ".pdf")
    for argv in runs:
        try:
            done = subprocess.run(argv, cwd=tex.parent, capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise LatexError(f"{name} could not compile {tex}: {error}") from None
        log = log_path.read_text(errors="replace") if log_path.is_file() else ""
        error = _first_error(log)
        if done.returncode != 0 or error:
            detail = error or (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-1:] or [
                f"exit status {done.returncode}"]
            detail = detail if isinstance(detail, str) else detail[0]
            raise LatexError(f"{name} failed on {tex}: {detail}; see {log_path.name} (rerun {name} in "
                             f"{tex.parent})")
    if not pdf.is_file():
        raise LatexError(f"{name} wrote no PDF for {tex}")
    return pdf, log


def _pdf(outputs: Outputs, tex: str) -> dict:
    """Compile ``tex`` in a scratch directory (the engine's auxiliary files never land in ``--out``) and place
    ``report.pdf`` like the report's other files. No engine: ``{"built": False, "note"}`` (the .tex and the
    figures are there to compile elsewhere); an engine that reports an error: :class:`LatexError`."""
    engine = _latex_engine()
    if engine is None:
        return {"built": False, "note": "no LaTeX engine (pdflatex, latexmk or tectonic) found; compile report.tex "
                                        "yourself (Debian: apt-get install texlive-latex-base "
                                        "texlive-latex-recommended)"}
    with tempfile.TemporaryDirectory(prefix=".latex-", dir=outputs.target) as scratch:
        pdf, log = compile_latex(outputs.target / tex, Path(scratch), engine)
        outputs.write_bytes("report.pdf", pdf.read_bytes())
    return {"built": True, "engine": engine}


# ------------------------------------------------------------------------------------------------------------------
# The LaTeX of the report: one fragment per section (TEX_SECTIONS), each a function of the section's record(s)


def _num(value, digits: int = 4) -> str:
    """A float in math mode text: ``1.23\\times 10^{-16}`` for large or small magnitudes, ``-`` for None."""
    if value is None:
        return "--"
    value = float(value)
    if not np.isfinite(value):
        return r"\infty" if value > 0 else (r"-\infty" if value < 0 else r"\text{NaN}")
    if value == 0:
        return "0"
    exponent = int(np.floor(np.log10(abs(value))))
    if -3 <= exponent < 6:
        return f"{value:.{digits}g}"
    mantissa = value / 10.0 ** exponent
    return rf"{mantissa:.{max(digits - 1, 0)}f}\times 10^{{{exponent}}}"


def _table(columns: str, header: list, rows: list, caption: str, label: str) -> list:
    r"""A ``booktabs`` table; ``header`` and ``rows`` are LaTeX cells, ``caption`` LaTeX text."""
    lines = [r"\begin{table}[!htbp]\centering\small", rf"\caption{{{caption}}}\label{{tab:{label}}}",
             rf"\begin{{tabular}}{{{columns}}}", r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    lines += [" & ".join(row) + r" \\" for row in rows]
    return lines + [r"\bottomrule", r"\end{tabular}", r"\end{table}"]


def _figure(name: str, caption: str, width: str = "0.8") -> list:
    return [r"\begin{figure}[!htbp]\centering", rf"\includegraphics[width={width}\linewidth]{{{name}.pdf}}",
            rf"\caption{{{caption}}}\label{{fig:{name}}}", r"\end{figure}"]


def _command(section: dict, what: str = "") -> str:
    r"""``Command for WHAT: \texttt{sharpness ...}``: the command line that prints a section's record, as a
    footnote-sized paragraph; ``what`` (LaTeX) names the table or figure it gives."""
    from analysis.latex import texttt

    if not section.get("command"):
        return ""
    label = f"Command for {what}" if what else "Command"
    return "\n" + rf"{{\raggedright\footnotesize\noindent {label}: {texttt(section['command'])}\par}}" + "\n"


FLOW_LABEL = r"($\mu$P, $\eta = 0.5$, $y = 1$, $n = 4$)"


def tex_fixed_points(section: dict, results: dict) -> list:
    from analysis.latex import text_escape

    rows = []
    for point in section["result"]:
        coordinates = ", ".join(_num(v, 10) for v in point["coordinates"].values())
        eigenvalues = ", ".join(_num(e, 10) if not isinstance(e, dict) else
                                rf"{_num(e['re'], 10)} {'+' if e['im'] >= 0 else '-'} {_num(abs(e['im']), 10)}\,i"
                                for e in point["eigenvalues"])
        rows.append([point["label"], f"$({coordinates})$", f"${eigenvalues}$", text_escape(point["stability"])])
    names = ", ".join(point["coordinates"]) if section["result"] else ""
    state = names.replace("lam", r"\lambda")
    return [r"\section{Fixed points}",
            r"The fixed points of the function-space map of the UV model " + FLOW_LABEL + r", evaluated from "
            r"the closed forms of Section~\ref{sec:derived} (exact: float64 evaluation of exact expressions, "
            r"shown to 10 significant digits), with the eigenvalues $\mu$ of the Jacobian there. A line of fixed "
            r"points is shown at its flip point $\eta\lambda = 2$.",
            *_table("clllp{0.3\\linewidth}", ["label", f"$({state})$", r"eigenvalues $\mu$", "stability"], rows,
                    r"Fixed points of the UV model " + FLOW_LABEL + ".", "fixed-points"),
            _command(section, r"Table~\ref{tab:fixed-points}"),
            *_figure("uv_flow", r"UV model " + FLOW_LABEL + r": GD displacement field in the $(f, \lambda)$ "
                     r"plane, the fixed points, and the realizable region $\lambda \ge 2|f|$.")]


def tex_trajectories(section: dict, results: dict) -> list:
    from analysis.latex import text_escape

    rows = []
    for label, run in section.items():
        parameters = run["result"]["parameters"]
        parameterization = {"mup": r"$\mu$P", "sp": "SP"}.get(run["result"]["parameterization"], "")
        setting = rf"{parameterization}, $\eta = {_num(parameters['eta'])}$, $n = {_num(parameters['n'])}$"
        for i, regime in enumerate(run["result"]["regimes"]):
            rows.append([text_escape(label) if i == 0 else "", setting if i == 0 else "",
                         text_escape(regime["name"]), f"${regime['start']}$--${regime['end']}$"])
        rows.append(["", "", r"\emph{outcome}", text_escape(run["result"]["outcome"]["name"])])
    return [r"\section{Trajectories and regimes}",
            r"Regimes are labelled from the sharpness and the loss along each run (definitions after Kalra et "
            r"al.~\cite{kalra2023} Sec.~2, Cohen et al.~\cite{cohen2021}); the boundaries are exact step indices "
            r"of the classified trajectory (resolution 1 step).",
            *_table("llll", ["run", "setting ($y = 1$)", "regime", "steps"], rows,
                    "Regime boundaries of the three runs of Figure~\\ref{fig:uv_trajectories}.", "regimes"),
            *[_command(run, _text(label)) for label, run in section.items()],
            *_figure("uv_trajectories", r"Sharpness trajectories with their regimes shaded: progressive sharpening "
                     r"and the edge of stability ($\mu$P, $n = 4$), a catapult (SP, $n = 100$); the dashed line "
                     r"is $2/\eta$.")]


def _phase_rows(grid: dict) -> list:
    """Per width: the runs of equal regime along the lam0 axis, each as its first and last grid value (the
    boundary is known to one grid step)."""
    lam, widths, codes = grid["lam"], grid["n"], grid["regime"]  # codes[i][j]: lam[i], n[j]
    rows = []
    for j, n in enumerate(widths):
        runs, start = [], 0
        for i in range(1, len(lam) + 1):
            if i == len(lam) or codes[i][j] != codes[start][j]:
                code = codes[start][j]
                name = sweeps.REGIME_ORDER[int(code)] if code is not None and np.isfinite(code) else "no value"
                span = (f"${_num(lam[start], 3)}$" if i - 1 == start else
                        f"${_num(lam[start], 3)}$--${_num(lam[i - 1], 3)}$")
                runs.append(f"{_text(name)} {span}")
                start = i
        rows.append([f"${_num(n)}$", "; ".join(runs)])
    return rows


def tex_phase_diagram(section: dict, results: dict) -> list:
    grid = section.get("grid")
    table = []
    if grid and len(grid["lam"]) > 1:
        step = (grid["lam"][-1] - grid["lam"][0]) / (len(grid["lam"]) - 1)
        table = _table("rp{0.8\\linewidth}", ["$n$", r"regimes along $\eta\lambda_0$ (first--last grid value)"],
                       _phase_rows(grid), r"Regime boundaries of the phase diagram (SP, $\eta = 1$, $y = 1$, "
                       rf"$f_0 = 0$; {_num(step, 3)} grid step in $\eta\lambda_0$, so each boundary is known to "
                       r"one step), the regime of a run as in Figure~\ref{fig:uv_phase_diagram}.", "phase-boundaries")
    return [*table, _command(section, r"Figure~\ref{fig:uv_phase_diagram}"),
            *_figure("uv_phase_diagram", r"Regime over $(\eta\lambda_0, n)$ in SP ($\eta = 1$, $y = 1$, "
                     r"$f_0 = 0$): the phase diagram of Kalra et al.~\cite{kalra2023}.")]


def _delta_rows(result: dict) -> tuple:
    """Rows of the delta (and alpha, where present) table: estimate, correct digits."""
    alpha = result.get("alpha_digits") or [str(a) for a in result.get("alpha") or []]
    alpha_correct = result.get("alpha_correct_digits") or []
    header = ["$i$", r"$\delta_i$", "correct digits"]
    if alpha:
        header += [r"$\alpha_i$", "correct digits"]

    def cell(values, i):
        return f"${str(values[i])[:22]}$" if i < len(values) else ""

    def rows_of(label, deltas, correct, alphas, alphas_correct):
        return [[label(i), cell(deltas, i), cell(correct, i)]
                + ([cell(alphas, i), cell(alphas_correct, i)] if alpha else [])
                for i in range(max(len(deltas), len(alphas)))]

    rows = rows_of(lambda i: f"${i + 1}$", result.get("delta_digits") or [], result.get("correct_digits") or [],
                   alpha, alpha_correct)
    rows += rows_of(lambda i: f"Aitken {i + 1}", result.get("delta_aitken") or [],
                    result.get("correct_digits_aitken") or [], result.get("alpha_aitken") or [],
                    result.get("alpha_correct_digits_aitken") or [])
    return header, rows


def tex_cascade(section: dict, results: dict) -> list:
    import mpmath

    cascade = section["result"]
    flips = cascade["bifurcations"]
    rows = []
    for b in flips:
        if "exact" in b:
            check = rf"exact (${b['exact']}$)"
        elif b["period"] == 2:
            with mpmath.workdps(cascade["digits"] + 10):
                exact_two = mpmath.sqrt(5) - 1  # the period-2 flip of the cubic normal form
                error = abs(mpmath.mpf(b["parameter_digits"]) - exact_two)
                agree = int(mpmath.floor(-mpmath.log10(error / exact_two))) if error > 0 else cascade["digits"]
            check = rf"{agree} digits agree with $\sqrt{{5}} - 1$"
        else:
            check = f"Newton in mpmath at {cascade['digits']} digits"
        rows.append([f"${b['period']}$", rf"${b['parameter_digits'][:32]}$", check])
    header, delta_rows = _delta_rows(cascade)
    has_alpha = len(header) > 3
    stopped = [rf"\emph{{The cascade stopped early: {_text(cascade['stopped'])}}}"] if cascade.get("stopped") else []
    return [r"\section{Period doubling on the EoS manifold}",
            r"GD on the EoS manifold $u = v$ is the cubic normal form $z' = (1 + k) z - k z^{3}$ "
            r"(Section~\ref{sec:derived}). Its first flip is exact ($k = 1$); each further flip of period $p$ "
            r"solves $F^{p}(z) = z$, $\det(DF^{p}(z) + I) = 0$ by Newton's method in float64, refined in mpmath. "
            r"The ratios $\delta_i = (k_{i+1} - k_i)/(k_{i+2} - k_{i+1})$ tend to Feigenbaum's "
            r"$\delta = 4.6692016091\ldots$~\cite{feigenbaum1978}; Aitken's $\Delta^2$ process~\cite{aitken1926} "
            r"accelerates them. Correct digits are counted against the known constant"
            + (r" (and $\alpha = 2.5029078750\ldots$ for the scaling of the orbit)." if has_alpha else "."),
            *stopped,
            *_table("rll", ["period $p$", "flip $k_p$", "accuracy"], rows,
                    f"Flips of the cubic normal form (working precision {cascade['digits']} digits; 32 shown).",
                    "flips"),
            *_table("l" + "l" * (len(header) - 1), header, delta_rows,
                    r"Estimates of Feigenbaum's $\delta$" + (r" and $\alpha$" if has_alpha else "")
                    + r" with their number of correct significant digits.", "delta"),
            _command(section, r"Tables~\ref{tab:flips} and~\ref{tab:delta}"),
            *_figure("uv_eos_orbit", r"Orbit diagram of $z \mapsto (1 + k) z - k z^{3}$ with the flips found by "
                     r"the multiplier condition (red)."),
            *_figure("feigenbaum_delta", r"Convergence of the ratio estimates $\delta_i$ of Feigenbaum's $\delta$.",
                     "0.6")]


def tex_lyapunov_sweep(section: dict, results: dict) -> list:
    return [*_figure("uv_eos_lyapunov", r"Largest Lyapunov exponent of $z \mapsto (1 + k) z - k z^{3}$ against "
                     r"$k$ (Benettin's method~\cite{benettin1980}); $\ln 3$ at the Chebyshev point $k = 2$."),
            _command(section, r"Figure~\ref{fig:uv_eos_lyapunov}")]


def tex_chebyshev(section: dict, results: dict) -> list:
    cheb = section["result"]
    value, stderr = cheb["exponents"][0], cheb["stderr"][0]
    exact = float(np.log(3))
    sigmas = abs(value - exact) / stderr if stderr else float("inf")
    return [r"\paragraph{The Chebyshev point.} At $k = 2$, $z = \sqrt{2}\, w$ conjugates $z \mapsto 3z - 2z^{3}$ "
            r"to $w \mapsto -T_3(w)$, whose Lyapunov exponent is $\ln 3$ exactly. Benettin's QR "
            rf"method~\cite{{benettin1980}} over ${cheb['steps']}$ steps gives "
            rf"$\lambda_1 = {value:.7f} \pm {_num(stderr, 2)}$ (standard error of the block means), against "
            rf"$\ln 3 = {exact:.7f}$: a deviation of ${sigmas:.1f}$ standard errors.",
            _command(section)]


def tex_xy_quartic(section: dict, results: dict) -> list:
    rows, losses = [], []
    for eta, run in section.items():
        result = run["result"]
        losses.append(result["final"]["loss"])
        rows.append([f"${eta}$", f"${_num(result['threshold'], 8)}$", f"${_num(result['final']['sharpness'], 8)}$",
                     f"${_num(result.get('gap'), 4)}$", _text(result["outcome"]["name"])])
    return [r"\section{A minimalist model: $L = (x^{2} y^{2} - 1)^{2}/4$}",
            r"Zhu et al.~\cite{zhu2023} show that GD on this loss ends at a sharpness just below $2/\eta$ (the "
            r"two-input network of Liu et al.~\cite{liu2025}, model \texttt{two-input}, is another minimalist "
            r"example). From $(x, y) = (4, 0.3)$, $20\,000$ steps; the largest final loss is "
            rf"${_num(max(losses, default=None), 2)}$, so the final point is a minimum to that accuracy.",
            *_table("rrrrl", [r"$\eta$", r"$2/\eta$", "final sharpness $S$", r"gap $2/\eta - S$", "outcome"], rows,
                    r"Final sharpness of GD on $L = (x^{2} y^{2} - 1)^{2}/4$.", "xy-quartic"),
            _command(next(iter(section.values())), r"the first row of Table~\ref{tab:xy-quartic}"),
            *_figure("xy_quartic_gap", r"$L = (x^{2} y^{2} - 1)^{2}/4$: final sharpness against $2/\eta$.", "0.6")]


def tex_width_scan(section: dict, results: dict) -> list:
    rows = [[f"${row['width']}$", _text(row["outcome"]["name"] + (f" {row['outcome']['period']}"
                                                                   if "period" in row["outcome"] else "")),
             f"${_num(row['max_abs_error_f'], 2)}$", f"${_num(row['max_abs_error_lam'], 2)}$",
             f"${_num(row['max_rel_error_sharpness'], 2)}$"] for row in section["result"]["rows"]]
    return [r"\section{Cross-checks against explicit gradient descent}",
            r"The derived map is checked against GD on the parameters $u, v \in \mathbb{R}^{n}$ (SP, "
            r"$\eta = 1.1$, $y = 1$, random initialization): the largest differences over the run, in "
            r"$f$, in $\lambda$ and (relative) in the sharpness $S$, the latter from the Hessian of the network "
            r"(dense \texttt{eigvalsh}, or Lanczos~\cite{lanczos1950} for large widths).",
            *_table("rlrrr", ["width $n$", "outcome", r"$\max|\Delta f|$", r"$\max|\Delta\lambda|$",
                              r"$\max|\Delta S|/S$"], rows,
                    f"Map against explicit GD, {section['result']['steps']} steps, per width.", "width-scan"),
            _command(section, r"Table~\ref{tab:width-scan}"),
            *_figure("crosscheck_errors", r"Final NTK and the map-versus-GD error against the width.", "0.7")]


def tex_crosscheck(section: dict, results: dict) -> list:
    check = section["result"]
    rows = [[r"$\max|\Delta f|$", f"${_num(check['max_abs_error_f'], 2)}$"],
            [r"$\max|\Delta\lambda|$", f"${_num(check['max_abs_error_lam'], 2)}$"],
            [r"$\max|\Delta S|/S$", f"${_num(check['max_rel_error_sharpness'], 2)}$"]]
    return [*_table("lr", ["error", "value"], rows,
                    rf"Map against explicit GD: SP, width ${check['width']}$, "
                    rf"$\eta = {_num(check['parameters']['eta'])}$, "
                    rf"${check['steps']}$ steps, seed ${check['seed']}$ (float64: errors near $10^{{-16}}$ are "
                    r"round-off).", "crosscheck"),
            _command(section, r"Table~\ref{tab:crosscheck}")]


def tex_nn(section: dict, results: dict) -> list:
    lines = [r"\section{A real network}"]
    result = section.get("result")
    if result is None:
        lines.append(_text(section.get("note", "No real-network run.")))
    else:
        lines.append(rf"An MLP of width ${result['width']}$ on ${result['samples']}$ digits, full-batch GD with "
                     rf"$\eta = {_num(result['eta'])}$ for ${result['steps']}$ steps: initial sharpness "
                     rf"${_num(result['initial_sharpness'])}$ (top Hessian eigenvalue by "
                     r"Lanczos~\cite{lanczos1950}), "
                     rf"final ${_num(result['final']['sharpness'])}$, against $2/\eta = {_num(result['threshold'])}$.")
        lines.append(_command(section))
    return lines + _figure("nn_sharpness", r"MLP on digits, full-batch GD: the sharpness times $\eta/2$.", "0.6")


def _text(text) -> str:
    from analysis.latex import prose

    return prose(str(text)).strip()


def _closed_form(entry: dict) -> str:
    import sympy as sp

    from analysis.latex import to_latex

    return to_latex(sp.sympify(entry["expression"]))


def tex_continuation(section: dict, results: dict) -> list:
    rows = [[f"${c['period']}$", rf"${_num(c['eta'], 10)}$", rf"${_num(c['b'], 5)}$", _text(c["criticality"])]
            for c in section["criticality"]]
    curve_rows = []
    for period, record_ in sorted(section["curves"].items(), key=lambda item: int(item[0])):
        for curve in record_["result"].get("curves", []):
            points = curve["points"]
            etas = [p["parameters"]["eta"] for p in points]
            curve_rows.append([f"${curve['period']}$", f"${len(points)}$",
                               rf"$[{_num(min(etas), 4)}, {_num(max(etas), 4)}]$"])
    return [r"\section{Stability curves by continuation}",
            r"Pseudo-arclength continuation of the period-$J$ orbits of the UV map (muP, $x = 1$, $n = 4$) from the "
            r"period-2 orbit on the EoS manifold $u = v$, with the flip (PD) points located by the test function "
            r"$\det(DF^{J} + I)$ and branch switching at each flip; at every flip the normal-form coefficient "
            r"$b = \langle p, C(q,q,q) + 3B(q, (I - A)^{-1} B(q,q)) \rangle / 6$ (MatContM's convention; "
            r"$b > 0$: supercritical, the period-$2J$ orbit born at the flip is stable)~\cite{kuznetsov2019}. "
            rf"The period-1 flip curve is known in closed form: $\eta = {_closed_form(section['period_1'])}$ "
            r"(the transverse flip of the line of minima on $u = v$).",
            *_table("rrrl", ["period $J$", r"flip $\eta$ ($y = 1.8$)", "$b$", "criticality"], rows,
                    r"Flips along the continued cascade and their normal-form coefficients.", "flips_continuation"),
            *_table("rrl", ["period", "points", r"$\eta$ range"], curve_rows,
                    r"Flip curves in the $(\eta, y)$ plane by two-parameter continuation.", "flip_curves"),
            _command(section["cascade"], r"Table~\ref{tab:flips_continuation}"),
            *_figure("uv_flip_curves", r"Flip curves of the UV model's EoS cascade in the $(\eta, y)$ plane, "
                     r"labelled with the criticality of each flip.")]


def tex_momentum(section: dict, results: dict) -> list:
    from .momentum_report import OPTIMIZER_ORDER

    rows = []
    for optimizer in OPTIMIZER_ORDER:
        uv = section["uv"][optimizer]["result"]
        cells = [_text(optimizer), rf"${_num(uv['threshold'], 5)}$", rf"${_num(uv['final']['sharpness'], 5)}$",
                 _text(uv["outcome"]["name"])]
        mlp = section["mlp"].get(optimizer) if isinstance(section.get("mlp"), dict) else None
        if mlp and mlp.get("result"):
            values = [v for v in mlp["result"]["sharpness"]["value"][len(mlp["result"]["sharpness"]["value"]) // 2:]
                      if v is not None]
            threshold = mlp["result"].get("threshold") or 2 / mlp["result"]["eta"]
            cells.append(rf"${_num(float(np.median(values)) / threshold, 3)}$" if values else "--")
        else:
            cells.append("--")
        rows.append(cells)
    return [r"\section{Momentum}",
            r"Heavy-ball and Nesterov momentum (PyTorch's convention, $v' = \beta v + g$; heavy-ball "
            r"$\theta' = \theta - \eta v'$, Nesterov $\theta' = \theta - \eta (g + \beta v')$) are derived for every "
            r"model from the same description; the linear stability threshold on the sharpness, derived from the "
            r"optimizer's map on a quadratic, is $2/\eta$, $(2 + 2\beta)/\eta$ and $(2 + 2\beta)/(\eta (1 + 2\beta))$ "
            r"\cite{cohen2021}. The UV model (muP, $n = 4$, $\eta = 0.9$, $\beta = 0.5$) and the digits MLP run under "
            r"each optimizer; each run's sharpness is read against its own threshold.",
            *_table("lrrlr", ["optimizer", "threshold (UV)", "final sharpness (UV)", "outcome (UV)",
                              "MLP: median sharpness / threshold"], rows,
                    r"Sharpness against each optimizer's own threshold (the MLP's median over the second half).",
                    "momentum"),
            _command(section["uv"]["heavy-ball"], r"the heavy-ball row"),
            *_figure("momentum_sharpness", r"Sharpness under GD, heavy-ball and Nesterov at the same $\eta$, each "
                     r"with its own threshold (dashed).")]


# name -> the LaTeX fragment of that section (a function of its record and the whole results); in report order.
TEX_SECTIONS = {"fixed_points": tex_fixed_points, "trajectories": tex_trajectories,
                "phase_diagram": tex_phase_diagram, "cascade": tex_cascade, "lyapunov_sweep": tex_lyapunov_sweep,
                "chebyshev": tex_chebyshev, "xy_quartic": tex_xy_quartic, "width_scan": tex_width_scan,
                "crosscheck": tex_crosscheck, "nn": tex_nn, "continuation": tex_continuation,
                "momentum": tex_momentum}

BIBLIOGRAPHY = [
    r"\bibitem{kalra2023} D.~S. Kalra, T.~He and M.~Barkeshli, \emph{Universal sharpness dynamics in neural network "
    r"training: fixed point analysis, edge of stability, and route to chaos}, arXiv:2311.02076 (2023).",
    r"\bibitem{zhu2023} X.~Zhu, Z.~Wang, X.~Wang, M.~Zhou and R.~Ge, \emph{Understanding edge-of-stability "
    r"training dynamics with a minimalist example}, ICLR 2023.",
    r"\bibitem{liu2025} Liu, Zhang, Du and Zhao, \emph{A minimalist example of edge-of-stability and progressive "
    r"sharpening} (2025).",
    r"\bibitem{cohen2021} J.~M. Cohen, S.~Kaur, Y.~Li, J.~Z. Kolter and A.~Talwalkar, \emph{Gradient descent on "
    r"neural networks typically occurs at the edge of stability}, ICLR 2021.",
    r"\bibitem{benettin1980} G.~Benettin, L.~Galgani, A.~Giorgilli and J.-M. Strelcyn, \emph{Lyapunov "
    r"characteristic exponents for smooth dynamical systems and for Hamiltonian systems; a method for computing "
    r"all of them}, Meccanica \textbf{15}, 9--30 (1980).",
    r"\bibitem{aitken1926} A.~C. Aitken, \emph{On Bernoulli's numerical solution of algebraic equations}, "
    r"Proc. Roy. Soc. Edinburgh \textbf{46}, 289--305 (1926).",
    r"\bibitem{lanczos1950} C.~Lanczos, \emph{An iteration method for the solution of the eigenvalue problem of "
    r"linear differential and integral operators}, J. Res. Nat. Bur. Standards \textbf{45}, 255--282 (1950).",
    r"\bibitem{kuznetsov2019} Yu.~A. Kuznetsov and H.~G.~E. Meijer, \emph{Numerical Bifurcation Analysis of Maps: "
    r"From Theory to Software}, Cambridge University Press (2019); W.~Govaerts, R.~Khoshsiar Ghaziani, "
    r"Yu.~A. Kuznetsov and H.~G.~E. Meijer, \emph{Numerical methods for two-parameter local bifurcation analysis of "
    r"maps}, SIAM J. Sci. Comput. 29 (2007) 2644--2667.",
    r"\bibitem{feigenbaum1978} M.~J. Feigenbaum, \emph{Quantitative universality for a class of nonlinear "
    r"transformations}, J. Stat. Phys. \textbf{19}, 25--52 (1978).",
]


def _abstract(results: dict) -> str:
    sections = results["sections"]
    cascade = sections["cascade"]["result"]
    cheb = sections["chebyshev"]["result"]
    check = sections["crosscheck"]["result"]
    flips = cascade["bifurcations"]
    best = max(zip(cascade.get("correct_digits_aitken") or [0], cascade.get("delta_aitken") or ["--"]))
    worst_error = max(check["max_abs_error_f"], check["max_abs_error_lam"])
    etas = ", ".join(f"${eta}$" for eta in sections["xy_quartic"])
    return (r"\begin{abstract}" "\n"
            r"From a SymPy description of a two-layer linear network on one example (the UV model of "
            r"Kalra et al.~\cite{kalra2023}) we derive, and check by an independent route, its exact function-space "
            r"gradient-descent map on the output $f$ and the NTK $\lambda$, the sharpness in closed form, the fixed "
            r"points with their stability, and the reduction to the cubic normal form $z' = (1 + k) z - k z^{3}$ on "
            r"the edge-of-stability manifold. Numerically we label the regimes of trajectories, map the phase "
            rf"diagram, and follow the period-doubling cascade to period ${flips[-1]['period']}$: Aitken-accelerated, "
            rf"Feigenbaum's $\delta = {best[1][:best[0] + 1]}$ to ${best[0]}$ correct digits. The Lyapunov "
            rf"exponent at the Chebyshev point $k = 2$ is "
            rf"${cheb['exponents'][0]:.6f} \pm {_num(cheb['stderr'][0], 1)}$ "
            rf"($\ln 3 = {np.log(3):.6f}$). The derived map agrees with explicit GD on the parameters to "
            rf"${_num(worst_error, 1)}$ (width ${check['width']}$). For the minimalist loss of Zhu et "
            rf"al.~\cite{{zhu2023}} we give the final sharpness gap below $2/\eta$ at $\eta = $ {etas}; a real "
            r"network's sharpness closes the report. "
            + ("This is the quick version of the report (smaller sweeps and fewer doublings)." if results["quick"]
               else "") + "\n" r"\end{abstract}")


def _tex(results: dict, settings: Settings) -> str:
    from analysis import load_model
    from analysis.latex import PREAMBLE, body, symbol_order, texttt

    sections = results["sections"]
    lines = PREAMBLE + [r"\title{Sharpness dynamics of gradient descent:\\ the UV model and beyond}",
                        r"\author{\texttt{sharpness report}}", r"\date{}", r"\begin{document}", r"\maketitle",
                        _abstract(results),
                        rf"\noindent Produced by {texttt(results['command'])}. Every number below is in "
                        r"\texttt{results.json}, with the \texttt{sharpness} command that prints it.",
                        r"\section{Derived function-space dynamics}\label{sec:derived}",
                        r"The UV model in SP: $f = x\, (v \cdot u)/\sqrt{n}$, loss $L = (f - y)^{2}/2$, the state "
                        r"$(f, \lambda)$ with $\lambda$ the NTK. Each equation below round-trips through SymPy's "
                        r"LaTeX parser to the derived expression."]
    derivation = load_model("uv", "sp")
    lines += body([("uv", "sp", [derivation.result(n) for n in ("function_map", "sharpness", "fixed_points",
                                                                "eos_map", "minima")],
                    symbol_order(derivation.model))], level="subsection")
    lines.append(r"\clearpage")
    for name in SECTIONS:
        if name in sections and name in TEX_SECTIONS:
            lines += [line for line in TEX_SECTIONS[name](sections[name], results) if line] + [""]
        if name in ("phase_diagram", "lyapunov_sweep", "crosscheck"):
            lines.append(r"\clearpage")
    lines += [r"\begin{thebibliography}{9}", *BIBLIOGRAPHY, r"\end{thebibliography}", r"\end{document}"]
    return "\n".join(lines) + "\n"
