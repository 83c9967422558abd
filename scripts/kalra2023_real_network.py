"""Kalra, He, Barkeshli (2023), Sec. 7: a real network shows the UV model's regimes. MLP on scikit-learn's digits,
full-batch GD at several eta, sharpness by warm-started Lanczos on autograd HVPs (needs the [torch] extra). The
first 512 examples, as in the README's table (``sharpness nn`` uses all 1,797 by default). The eta sweep with the
sharpness at every step, its period and spectra is ``scripts/kalra2023_nn_eta_sweep.py``.
Run: ``python scripts/kalra2023_real_network.py [OUTDIR]``; writes nn_mlp.png and prints the comparison table."""
import sys
from pathlib import Path

from numerics import nn, plots


def main(out: Path):
    runs = []
    for eta in (0.05, 0.15, 0.3, 0.5, 0.6):
        run = nn.train("digits", "mlp", eta, 600, width=64, seed=0, samples=512)
        runs.append(run)
        uv = nn.uv_prediction(run.eta_lam0, 64) if run.eta_lam0 else None
        print(f"eta {eta:<5g} eta*lam0 {run.eta_lam0:.3f}  network: "
              f"{', '.join(dict.fromkeys(r.name for r in run.regimes))}  UV model: "
              f"{', '.join(dict.fromkeys(uv['regimes'])) if uv else '-'}")
    plots.nn_figure(runs, str(out / "nn_mlp.png"))


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    main(target)
