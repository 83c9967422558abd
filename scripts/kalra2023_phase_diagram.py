"""Kalra, He, Barkeshli (2023), the phase diagram of the UV model over (eta lam0, n) in SP: where GD sharpens,
sits at the edge of stability, catapults or diverges. A Dask sweep into a resumable Zarr store.
Run: ``python scripts/kalra2023_phase_diagram.py [OUTDIR]``; writes uv_phase_diagram.png."""
import sys
from pathlib import Path

from numerics import plots, sweep


def main(out: Path):
    store = out / "uv_phase_diagram.zarr"
    summary = sweep.sweep("uv", "sp", {}, {"eta": "1", "y": "1"}, {"f": "0"},
                          [sweep.parse_axis("lam=0.2:5:48"), sweep.parse_axis("n=1:4096:13:log")], "regime",
                          str(store), 1000, tile=(8, 8))
    plots.sweep_figure(sweep.load(store), str(out / "uv_phase_diagram.png"),
                       "uv (SP), eta = 1, y = 1, f0 = 0: regime over (eta lam0, n)")
    print(summary)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    main(target)
