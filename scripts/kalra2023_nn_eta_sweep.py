"""Does a real network's sharpness period-double like the UV model's EoS map? An eta sweep of the MLP on all of
scikit-learn's digits (full batch, float64, sharpness at every step by warm-started Lanczos on autograd HVPs), the
period of the sharpness over each run's edge-of-stability window and its Welch power spectrum.

Run: ``python scripts/kalra2023_nn_eta_sweep.py [OUTDIR] [ETAS] [STEPS]`` (default docs/figures, eta=0.2:0.7:11,
600); the same as ``sharpness nn --vary eta=0.2:0.7:11 --steps 600 --measure-every 1 --out OUTDIR/nn_eta_sweep.json
--orbit-plot OUTDIR/nn_eta_orbit.png``. Finished etas are kept in ``OUTDIR/nn_eta_sweep.json``: an interrupted
sweep resumes from them. Writes nn_eta_orbit.png (orbit diagram against eta, and the spectra) and prints a table.
"""
import sys
from pathlib import Path

from numerics import Axis, nn
from numerics.requests import NetworkRequest


def main(out: Path, etas: str = "eta=0.2:0.7:11", steps: int = 600):
    request = NetworkRequest(Axis.parse(etas, counted=True), steps=steps, measure_every=1,
                             out=str(out / "nn_eta_sweep.json"))

    def start(index, eta, done):
        print(f"[{index + 1}/{len(request.eta)}] eta = {eta:g}" + (" (finished before)" if done else ""), flush=True)

    runs = request.call(on_start=start)
    nn.orbit_figure(runs, str(out / "nn_eta_orbit.png"))
    print(f"{'eta':>6} {'eta*lam0':>8} {'window':>11} {'S/thr med':>9} {'period':>6}  explained by p=2,4,8,16,32"
          f"   peak (cycles/step)  HVPs  regimes")
    for run in runs:
        window = run["eos_window"]
        detail = run["period_detail"]
        text = "-" if window is None else f"{window['start']}-{window['end']}"
        explained = " ".join(f"{detail['explained'].get(str(p), float('nan')):.2f}" for p in nn.PERIODS)
        spectrum = run["power_spectrum"]
        peak = "-"
        if spectrum:
            power = spectrum["power"][1:]
            peak = f"{spectrum['frequency'][1 + power.index(max(power))]:.4f}"
        import numpy as np

        steps_ = np.asarray(run["sharpness"]["step"])
        values_ = np.asarray(run["sharpness"]["value"]) / run["threshold"]
        inside = values_[(steps_ >= window["start"]) & (steps_ <= window["end"])] if window else values_
        period = {"periodic": str(run["period"]), "aperiodic": "none"}.get(detail["status"], "undet.")
        print(f"{run['eta']:>6g} {run['eta_lam0'] or float('nan'):>8.3f} {text:>11} {np.median(inside):>9.3f} "
              f"{period:>6}  {explained:<28} {peak:>10}  {run['hvps_mean'] or 0:>6.1f}  "
              f"{', '.join(dict.fromkeys(r['name'] for r in run['regimes']))}", flush=True)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    main(target, *(sys.argv[2:3]), *(int(a) for a in sys.argv[3:4]))
