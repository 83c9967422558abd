"""Liu et al. (2025), width-1 net on a relevant and an irrelevant input: progressive sharpening, then
self-stabilisation at about 2/eta. Run: ``python scripts/liu2025_two_input.py [OUTDIR]``; writes
two_input_sharpness.png and prints the regimes."""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from numerics import IteratedMap  # noqa: E402


def main(out: Path):
    result = IteratedMap("two-input", values={"eta": 0.5}).run(12_000, every=4)
    figure, axis = plt.subplots(figsize=(8, 4))
    result.plot(axis)
    figure.savefig(out / "two_input_sharpness.png", dpi=150, bbox_inches="tight")
    print(f"final sharpness {result.final['sharpness']:.6f}, {result.threshold_name} {result.threshold:.6f}, "
          f"gap {result.gap:.6f}")
    for regime in result.regimes:
        print(f"  steps {regime.start:>6}-{regime.end:<6} {regime.name}")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    main(target)
