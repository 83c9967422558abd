"""Benchmark: start-up of small commands, cold (empty cache) and warm, against ``sharpness models``.

Run: ``python benchmarks/bench_startup.py [--repeats 3]``. Each command runs as a fresh process (what a user
types), with ``SHARPNESS_CACHE_DIR`` pointing at a new temporary directory:

* *cold*: the first run into the empty cache (derivations and the numba kernels compiled and stored);
* *warm*: the median of ``--repeats`` later runs, which load the derivations and the kernels' machine code.

The ratio column is warm time over the warm time of ``sharpness models`` (the floor: Python, NumPy, SymPy and the
command-line parser) measured in the same run; the aim is at most 1.5.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = (
    ("models", ["models"]),
    ("run", ["run", "uv-eos", "--set", "k=1.2", "--steps", "500"]),
    ("lyapunov", ["lyapunov", "uv-eos", "--set", "k=1.9", "--steps", "1000"]),
    ("bifurcation", ["bifurcation", "uv-eos", "--vary", "k", "--range", "1", "2", "--points", "200",
                     "--steps", "500", "--keep", "20"]),
    ("fixed-points", ["fixed-points", "uv", "--set", "eta=0.5", "--set", "y=1", "--set", "n=4"]),
    ("run (uv)", ["run", "uv", "--set", "eta=0.5", "--set", "y=1", "--set", "n=4", "--steps", "500"]),
)


def timed(argv, env) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "numerics.cli", *argv], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SHARPNESS_CACHE_DIR=cache)
        rows = []
        for label, argv in COMMANDS:
            cold = timed(argv, env)
            warm = statistics.median(timed(argv, env) for _ in range(args.repeats))
            rows.append((label, cold, warm))
    floor = rows[0][2]
    print(f"{'command':<16}{'cold (s)':>10}{'warm (s)':>10}{'warm / models':>15}")
    for label, cold, warm in rows:
        print(f"{label:<16}{cold:>10.2f}{warm:>10.2f}{warm / floor:>15.2f}")


if __name__ == "__main__":
    main()
