"""Liu et al. (2025), width-1 net on a relevant and an irrelevant input: progressive sharpening, then
self-stabilisation at about 2/eta. Run: ``python scripts/liu2025_two_input.py [OUTDIR]``; writes
two_input_sharpness.png and prints the regimes."""
import sys
from pathlib import Path

from numerics import dynamics, plots
from numerics.compile import compile_model


def main(out: Path):
    compiled = compile_model("two-input")
    values = compiled.model.parse_values({"eta": "0.5"})
    result = dynamics.run(compiled, values, compiled.model.parse_initial({}, values), 12_000, every=4)
    plots.trajectory_figure(result, str(out / "two_input_sharpness.png"))
    print(f"final sharpness {result['final']['sharpness']:.6f}, 2/eta {result['threshold']:.6f}, "
          f"gap {result['gap']:.6f}")
    for regime in result["regimes"]:
        print(f"  steps {regime['start']:>6}-{regime['end']:<6} {regime['name']}")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    target.mkdir(parents=True, exist_ok=True)
    main(target)
