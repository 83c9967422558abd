r"""``sharpness report``: the whole analysis on defaults, as a LaTeX report, a results file and figures.

Every number comes from the public Python API (:mod:`analysis`, :mod:`numerics`); each section records, beside
its JSON (the result's ``to_dict()``), the equivalent ``sharpness ...`` command, so a reader can rerun any number
from the command line and get the same answer (the tests do). Sweeps run on Dask (a local cluster, or ``--scheduler``) into Zarr stores
under ``OUT/sweeps``, which resume if the report is interrupted.
"""
from __future__ import annotations

import json
import platform
import shlex
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np

from analysis.errors import UserInputError

FIGURES = ("uv_flow", "uv_trajectories", "uv_phase_diagram", "uv_eos_orbit", "uv_eos_lyapunov", "feigenbaum_delta",
           "xy_quartic_gap", "crosscheck_errors", "nn_sharpness")
STEPS = 10  # progress reports per report run (sections plus the figure-only steps)
PACKAGES = ("sympy", "mpmath", "numpy", "scipy", "numba", "networkx", "matplotlib", "dask", "distributed",
            "xarray", "zarr", "torch", "scikit-learn")


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
        self.phase = ("lam=0.2:5:24", "n=1:4096:7:log", "500") if quick else ("lam=0.2:5:48", "n=1:4096:13:log", "1000")
        self.lyapunov_points = "80" if quick else "400"
        self.lyapunov_steps = "3000" if quick else "20000"
        self.doublings = "6" if quick else "12"
        self.widths = "1,16,256,4096" if quick else "1,4,16,64,256,1024,4096"
        self.xy_etas = (0.07, 0.1, 0.13) if quick else tuple(np.round(np.linspace(0.065, 0.13, 8), 4))
        self.nn_steps = "150" if quick else "600"
        self.nn_samples = "256" if quick else "512"


def build(out: str, quick: bool = False, scheduler: str | None = None, progress=None) -> dict:
    """Write ``OUT/report.tex``, ``OUT/results.json``, the figures (PNG and PDF) and, with a LaTeX engine,
    ``OUT/report.pdf``; returns the results dictionary."""
    from . import plots

    target = Path(out)
    try:
        (target / "sweeps").mkdir(parents=True, exist_ok=True)
        probe = target / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserInputError(f"cannot write to --out {out}: {error.strerror or error}") from None
    settings = Settings(quick)
    scheduler_args = ["--scheduler", scheduler] if scheduler else []
    sections = {}

    def step(name, function):
        sections[name] = function()
        if progress:
            progress(name)

    figure = lambda name: [str(target / f"{name}.{ext}") for ext in ("png", "pdf")]  # noqa: E731

    def save_both(draw, name):
        for path in figure(name):
            draw(path)

    from analysis import load_model

    from .crosscheck import crosscheck, width_scan
    from .flips import cascade
    from .iterated_map import IteratedMap

    uv_mup = load_model("uv", "mup")
    flow_values = {"eta": "0.5", "y": "1", "n": "4"}
    set_args = lambda values: [a for k, v in values.items() for a in ("--set", f"{k}={v}")]  # noqa: E731
    step("fixed_points", lambda: record(["fixed-points", "uv", "-p", "mup", *set_args(flow_values)],
                                        lambda: uv_mup.fixed_points_at(**flow_values)))
    flow_map = IteratedMap(uv_mup, **flow_values)
    save_both(lambda p: plots.flow_figure(flow_map, uv_mup.fixed_points_at(**flow_values), p,
                                          box=[(-3.5, 6), (0.05, 11)]), "uv_flow")

    trajectories = {}
    for label, parameterization, eta, n, f0, lam0 in (
            ("progressive sharpening", "mup", "0.9", "4", "0.01", "0.3"),
            ("edge of stability", "mup", "1.1", "4", "0.01", "0.3"),
            ("catapult", "sp", "2.5", "100", "0.05", "1")):
        values = {"eta": eta, "n": n, "y": "1"}
        trajectories[label] = record(
            ["run", "uv", "-p", parameterization, *set_args(values), "--init", f"f={f0}", "--init", f"lam={lam0}",
             "--steps", "200"],
            lambda: IteratedMap(load_model("uv", parameterization), **values).run(200, init={"f": f0, "lam": lam0}))
    sections["trajectories"] = trajectories
    save_both(lambda p: plots.trajectories_figure({k: v["result"] for k, v in trajectories.items()}, p),
              "uv_trajectories")
    if progress:
        progress("trajectories")

    lam_axis, n_axis, phase_steps = settings.phase
    phase_store = str(target / "sweeps" / "uv_phase.zarr")
    from .sweeps import load, sweep

    step("phase_diagram", lambda: record(
        ["sweep", "uv", "--set", "eta=1", "--set", "y=1", "--init", "f=0", "--vary", lam_axis, "--vary", n_axis,
         "--measure", "regime", "--out", phase_store, "--steps", phase_steps, "--tile", "8", "--quiet",
         *scheduler_args],
        lambda: sweep("uv", [lam_axis, n_axis], "regime", phase_store, int(phase_steps), init={"f": "0"}, tile=8,
                      scheduler=scheduler, eta="1", y="1")))

    phase = load(phase_store)
    save_both(lambda p: plots.sweep_figure(phase, p, "uv (SP), eta = 1, y = 1, f0 = 0: regime over "
                                                     "(eta lam0, n)"), "uv_phase_diagram")
    sections["phase_diagram"]["grid"] = {"lam": phase["lam"].values.tolist(), "n": phase["n"].values.tolist(),
                                         "regime": phase["regime"].values.tolist()}

    step("cascade", lambda: record(["cascade", "uv-eos", "--vary", "k", "--doublings", settings.doublings,
                                    "--digits", "40", "--quiet"],
                                   lambda: cascade("uv-eos", "k", int(settings.doublings), 40)))
    flips = [b["parameter"] for b in sections["cascade"]["result"]["bifurcations"]]
    cubic = IteratedMap("uv-eos", k=1)
    diagram = cubic.orbit_diagram("k", np.linspace(0.8, 2.0, 800 if quick else 3000), 1000 if quick else 3000, 150)
    save_both(lambda p: plots.orbit_figure(diagram, p, "uv-eos orbit diagram; red: flips found by the "
                                                       "multiplier condition", flips=flips), "uv_eos_orbit")
    save_both(lambda p: plots.delta_figure(sections["cascade"]["result"], p), "feigenbaum_delta")

    lyapunov_store = str(target / "sweeps" / "uv_eos_lyapunov.zarr")
    lyapunov_axis = f"k=0.8:2:{settings.lyapunov_points}"
    step("lyapunov_sweep", lambda: record(
        ["sweep", "uv-eos", "--vary", lyapunov_axis, "--measure", "lyapunov", "--out", lyapunov_store, "--steps",
         settings.lyapunov_steps, "--tile", "32", "--quiet", *scheduler_args],
        lambda: sweep("uv-eos", lyapunov_axis, "lyapunov", lyapunov_store, int(settings.lyapunov_steps), tile=32,
                      scheduler=scheduler)))
    lyapunov = load(lyapunov_store)
    sections["lyapunov_sweep"]["values"] = {"k": lyapunov["k"].values.tolist(),
                                            "lyapunov": lyapunov["lyapunov"].values.tolist()}
    save_both(lambda p: plots.sweep_figure(lyapunov, p, "uv-eos: largest Lyapunov exponent; ln 3 at k = 2"),
              "uv_eos_lyapunov")
    step("chebyshev", lambda: record(["lyapunov", "uv-eos", "--set", "k=2", "--steps", "200000"],
                                     lambda: IteratedMap("uv-eos", k="2").lyapunov(200_000)))

    xy_runs = {}
    for eta in settings.xy_etas:
        xy_runs[f"{eta:g}"] = record(
            ["run", "xy-quartic", "--set", f"eta={eta:g}", "--init", "x=4", "--init", "y=0.3", "--steps", "20000",
             "--every", "1000"],
            lambda: IteratedMap("xy-quartic", eta=f"{eta:g}").run(20_000, init={"x": "4", "y": "0.3"}, every=1000))
    sections["xy_quartic"] = xy_runs
    save_both(lambda p: plots.gap_figure({k: v["result"] for k, v in xy_runs.items()}, p), "xy_quartic_gap")
    if progress:
        progress("xy_quartic")

    step("width_scan", lambda: record(
        ["width-scan", "uv", "--set", "eta=1.1", "--set", "y=1", "--steps", "200", "--widths", settings.widths,
         "--quiet"],
        lambda: width_scan("uv", [int(w) for w in settings.widths.split(",")], 200, 0, eta="1.1", y="1")))
    step("crosscheck", lambda: record(
        ["crosscheck", "uv", "--width", "64", "--set", "eta=0.5", "--set", "y=1", "--steps", "100", "--seed", "0",
         "--quiet"],
        lambda: crosscheck("uv", 64, 100, 0, eta="0.5", y="1")))
    save_both(lambda p: plots.width_scan_figure(sections["width_scan"]["result"], p), "crosscheck_errors")

    try:
        import torch  # noqa: F401
        has_torch = True
    except ImportError:
        has_torch = False
    if has_torch:
        from . import nn

        def nn_run():
            run = nn.train("digits", "mlp", 0.15, int(settings.nn_steps), 64, 0, 5, 30, int(settings.nn_samples))
            run["uv_prediction"] = nn.uv_prediction(run["eta_lam0"], 64) if run["eta_lam0"] else None
            return run

        step("nn", lambda: record(["nn", "--arch", "mlp", "--eta", "0.15", "--steps", settings.nn_steps,
                                   "--samples", settings.nn_samples, "--quiet"], nn_run))
        save_both(lambda p: plots.nn_figure([sections["nn"]["result"]], p), "nn_sharpness")
    else:
        sections["nn"] = {"command": None, "result": None, "note": "PyTorch not installed (pip install -e .[torch])"}
        save_both(lambda p: plots.note_figure("PyTorch is not installed: no real-network run", p), "nn_sharpness")

    command = "sharpness report " + shlex.join(["--out", out] + (["--quick"] if quick else []) + scheduler_args)
    results = {"command": command, "quick": quick, "versions": versions(), "sections": sections,
               "figures": {name: figure(name) for name in FIGURES}}
    (target / "results.json").write_text(json.dumps(results, indent=1, allow_nan=True))
    tex = target / "report.tex"
    tex.write_text(_tex(results, settings))
    results["pdf"] = _pdf(tex)
    (target / "results.json").write_text(json.dumps(results, indent=1, allow_nan=True))
    return results


def _pdf(tex: Path):
    engine = shutil.which("pdflatex") or shutil.which("tectonic")
    if engine is None:
        return {"built": False, "note": "no LaTeX engine (pdflatex or tectonic) found; compile report.tex yourself"}
    for _ in range(2):  # twice, for references
        done = subprocess.run([engine, "-interaction=nonstopmode", tex.name], cwd=tex.parent, capture_output=True)
    return {"built": done.returncode == 0, "engine": engine}


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
