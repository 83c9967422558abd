"""The early-training phase diagram of a real network beside the UV model's (Kalra, He & Barkeshli, arXiv
2311.02076, Sec. 4, Fig. 3): the digits MLP over a grid of step sizes, widths and parameterizations (ntk, whose UV
counterpart is the UV model's SP, and mup, the UV model's muP), each run's early regime at its (eta*lam0, width)
against the UV model's at the same point over the same steps, and the agreement rate.

Run: ``python scripts/kalra2023_nn_phase_diagram.py [OUTDIR] [ETAS] [WIDTHS] [STEPS]`` (default docs/figures,
eta=0.03:1.5:6:log, width=16,64,256, 150 steps); the same as ``sharpness nn --samples 64 --measure-every 3 --vary
ETAS --vary WIDTHS --vary parameterization=ntk,mup --steps STEPS --out OUTDIR/nn_phase_diagram.json --phase-plot
OUTDIR/nn_phase_diagram.png``. The finished runs are kept in the .json: an interrupted grid resumes from them.
Prints one line per run and the agreement, overall and per parameterization.
"""
import sys
from pathlib import Path

from numerics import Axis, Categories
from numerics.requests import NetworkRequest


def main(out: Path, etas: str = "eta=0.03:1.5:6:log", widths: str = "width=16,64,256", steps: int = 150):
    request = NetworkRequest(Axis.parse(etas, counted=True), samples=64, steps=steps, measure_every=3,
                             vary=(Axis.parse(widths, counted=True), Categories("parameterization", ("ntk", "mup"))),
                             out=str(out / "nn_phase_diagram.json"))
    print("rerun with: sharpness " + " ".join(request.to_argv()), flush=True)
    grid = request.call(runs_progress=lambda done, total: print(f"[{done}/{total}]", flush=True))
    grid.phase_plot(str(out / "nn_phase_diagram.png"))
    print(f"{'param':>5} {'width':>5} {'eta':>7} {'eta*lam0':>8} {'S_end/thr':>9}  {'network':<26} {'UV model':<26} agree")
    for row in grid.table():
        ratio = row["final_sharpness_over_threshold"]
        lam = row["eta_lam0"]
        print(f"{row['parameterization']:>5} {row['width']:>5} {row['eta']:>7.4g} "
              f"{'-' if lam is None else format(lam, '.3f'):>8} {'-' if ratio is None else format(ratio, '.3f'):>9}  "
              f"{row['early_regime']:<26} {row['uv_early_regime'] or '-':<26} {row['agrees']}")
    diagram = grid.phase_diagram()
    print(f"agreement: {diagram.agreeing}/{diagram.compared} = {diagram.agreement_rate:.2f}; by parameterization: "
          + ", ".join(f"{name} {s['agreeing']}/{s['compared']}" for name, s in diagram.by_parameterization.items()))


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    main(target, *sys.argv[2:4], *(int(a) for a in sys.argv[4:5]))
