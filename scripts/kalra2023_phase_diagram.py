"""Kalra, He, Barkeshli (2023), the phase diagram of the UV model over (eta lam0, n) in SP: where GD sharpens,
sits at the edge of stability, catapults or diverges. A Dask sweep into a resumable Zarr store.
Run: ``python scripts/kalra2023_phase_diagram.py [OUTDIR]``; writes uv_phase_diagram.png."""
import sys
from pathlib import Path

from numerics import Axis, load_sweep, plots, sweep


def main(out: Path):
    store = out / "uv_phase_diagram.zarr"
    summary = sweep("uv", [Axis.parse("lam=0.2:5:48"), Axis.parse("n=1:4096:13:log")], values={"eta": 1, "y": 1},
                    measure="regime", out=str(store), steps=1000, init={"f": 0}, parameterization="sp", tile=8)
    plots.sweep_figure(load_sweep(store), str(out / "uv_phase_diagram.png"),
                       "uv (SP), eta = 1, y = 1, f0 = 0: regime over (eta lam0, n)")
    print(summary)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    main(target)
