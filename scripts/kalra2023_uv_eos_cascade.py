"""Kalra, He, Barkeshli (2023), Sec. 6: the period-doubling route to chaos on the UV model's EoS manifold.
Run: ``python scripts/kalra2023_uv_eos_cascade.py [OUTDIR]``; writes uv_eos_orbit.png (orbit diagram of
z -> (1+k) z - k z^3 with the flips found by the multiplier condition marked) and prints the flips."""
import sys
from pathlib import Path

import numpy as np

from numerics import Axis, IteratedMap, cascade, plots


def main(out: Path):
    flips = cascade("uv-eos", "k", doublings=8, digits=30)
    diagram = IteratedMap("uv-eos", values={"k": 1}).orbit_diagram(Axis("k", np.linspace(0.8, 2.0, 3000)), 3000, 300)
    plots.orbit_figure(diagram, str(out / "uv_eos_orbit.png"),
                       "uv-eos: z -> (1+k) z - k z^3 (k = eta kappa y); red: flips of periods 1..128",
                       flips=[float(f.parameter) for f in flips.bifurcations])
    print(flips)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    main(target)
