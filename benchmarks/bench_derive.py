"""Benchmark: every UV derivation cold (empty cache) and from the cache, in one run.

Run: ``python benchmarks/bench_derive.py``. Targets (issue 2): cold <= 10 s, cached <= 0.5 s on 2 cores.
Each figure is the best of ``--repeat`` runs, each in a fresh process so that nothing is memoised in memory;
the in-process time (after imports) and the whole-process wall time are both reported.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from analysis import Derivation
t1 = time.perf_counter()
for model, parameterization in (("uv", "sp"), ("uv", "mup"), ("uv-eos", None)):
    Derivation(model, parameterization).results()
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "derive": t2 - t1}))
"""


def measure(cache: str) -> dict:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD], env={**os.environ, "SHARPNESS_CACHE_DIR": cache},
                         capture_output=True, text=True, check=True).stdout
    return {**json.loads(out), "process": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(measure(cache))
            warm.append(measure(cache))
    best = lambda runs, key: min(r[key] for r in runs)  # noqa: E731
    print(f"{'':<22}{'derive (s)':>12}{'process (s)':>13}")
    print(f"{'cold (empty cache)':<22}{best(cold, 'derive'):>12.3f}{best(cold, 'process'):>13.3f}")
    print(f"{'cached':<22}{best(warm, 'derive'):>12.3f}{best(warm, 'process'):>13.3f}")
    print(f"speed-up of the cache: {best(cold, 'derive') / best(warm, 'derive'):.0f}x "
          f"(import of sympy etc.: {best(warm, 'import'):.3f} s, not included in 'derive')")


if __name__ == "__main__":
    main()
