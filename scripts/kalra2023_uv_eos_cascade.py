"""Kalra, He, Barkeshli (2023), Sec. 6: the period-doubling route to chaos on the UV model's EoS manifold.
Run: ``python scripts/kalra2023_uv_eos_cascade.py [OUTDIR]``; writes uv_eos_orbit.png (orbit diagram of
z -> (1+k) z - k z^3 with the flips found by the multiplier condition marked) and prints the flips."""
import sys
from pathlib import Path

from numerics import cascade, dynamics, plots
from numerics.compile import compile_model


def main(out: Path):
    compiled = compile_model("uv-eos")
    values = compiled.model.parse_values({"k": "1"})
    flips = cascade.cascade(compiled, values, "k", doublings=8, digits=30)["bifurcations"]
    diagram = dynamics.orbit_diagram(compiled, values, compiled.model.parse_initial({}, values), "k", 0.8, 2.0,
                                     3000, 3000, 300)
    plots.orbit_figure(diagram, "k", "z", str(out / "uv_eos_orbit.png"),
                       "uv-eos: z -> (1+k) z - k z^3 (k = eta kappa y); red: flips of periods 1..128",
                       flips=[float(f["parameter"]) for f in flips])
    for f in flips:
        print(f"period {f['period']:>4} flips at k = {float(f['parameter']):.15f}")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    main(target)
