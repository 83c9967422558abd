"""Kalra, He, Barkeshli (2023), Sec. 7: a real network shows the UV model's regimes. MLP on scikit-learn's digits,
full-batch GD at several eta, sharpness by Lanczos (needs the [torch] extra).
Run: ``python scripts/kalra2023_real_network.py [OUTDIR]``; writes nn_mlp.png and prints the comparison table."""
import sys
from pathlib import Path

from analysis.cli import main as sharpness

if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    sys.exit(sharpness(["nn", "--arch", "mlp", "--eta", "0.05,0.15,0.3,0.5,0.6", "--steps", "600",
                        "--plot", str(target / "nn_mlp.png"), "--quiet"]))
