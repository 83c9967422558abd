"""Zhu et al. (ICLR 2023), L = (x^2 y^2 - 1)^2 / 4: bifurcations in eta, the basin, and the gap below 2/eta.

Run: ``python scripts/zhu2023_xy_quartic.py [OUTDIR]`` (default docs/figures). Writes xy_quartic_orbit.png,
xy_quartic_basin.png and xy_quartic_gap.png, and prints the gap table.
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis import load_model  # noqa: E402
from numerics import Axis, IteratedMap, plots  # noqa: E402


def main(out: Path):
    derived = load_model("xy-quartic")
    # The flip of the flattest minimum, from the derived stability boundaries (not typed by hand).
    flips = sorted(float(b.value) for e in derived.stability.points for b in e.boundaries if b.kind == "flip"
                   and b.value.is_number)
    diagram = IteratedMap(derived, values={"eta": 0.5}).orbit_diagram(Axis("eta", np.linspace(0.3, 1.0, 2000)), 5000,
                                                                      200, init={"x": 1.5, "y": 0.2})
    plots.orbit_figure(diagram, str(out / "xy_quartic_orbit.png"),
                       "xy-quartic from (1.5, 0.2): flip of the flattest minimum, then period doubling to chaos",
                       flips=flips)

    basin = IteratedMap(derived, values={"eta": 0.1}).basin([Axis.parse("x=-5:5:400"), Axis.parse("y=-5:5:400")], 3000)
    plots.basin_figure(basin, str(out / "xy_quartic_basin.png"), "xy-quartic, eta = 0.1: where GD from (x, y) ends")

    etas = np.linspace(0.06, 0.13, 15)
    finals = []
    for eta in etas:
        result = IteratedMap(derived, values={"eta": eta}).run(20_000, init={"x": 4, "y": 0.3})
        finals.append(result.final["sharpness"] if result.outcome.name == "converged" else np.nan)
    finals = np.array(finals)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(2 / etas, finals, "o-", label="final sharpness")
    left.plot(2 / etas, 2 / etas, "k--", lw=1, label=r"$2/\eta$")
    left.set_xlabel(r"$2/\eta$")
    left.legend()
    right.plot(etas, 1 - finals * etas / 2, "o-")
    right.set_xlabel(r"$\eta$")
    right.set_ylabel(r"relative gap $1 - \eta S_\infty / 2$")
    figure.suptitle("xy-quartic from (4, 0.3): GD ends just below 2/eta", fontsize=10)
    figure.savefig(out / "xy_quartic_gap.png", dpi=150, bbox_inches="tight")
    print(f"{'eta':>8}{'2/eta':>10}{'final S':>12}{'gap':>10}")
    for eta, final in zip(etas, finals):
        print(f"{eta:>8.4f}{2 / eta:>10.4f}{final:>12.6f}{2 / eta - final:>10.5f}")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    main(target)
