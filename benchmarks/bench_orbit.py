"""Benchmark: UV map steps per second for an orbit diagram of 10,000 eta values x 10,000 steps.

Run: ``python benchmarks/bench_orbit.py [--lanes 10000] [--steps 10000]``. The same derived map, measured in the
same run; ratios against the numpy loop (and the plain Python loop):

* plain Python loop over lanes and steps, calling the generated scalar function (no numba), on a subset of
  lanes (it would take minutes on all of them; steps/s does not depend on the number of lanes);
* numpy, vectorised over eta (one array operation per step for all lanes);
* the project's numba kernel (``IteratedMap(...).compiled.orbit_kernel``: per-lane constants hoisted, SIMD across
  lanes, threads across blocks), alone;
* the public ``IteratedMap.orbit_diagram``: the same kernel plus validation of every eta and the classification
  of every orbit (period, Lyapunov exponent of the aperiodic ones): what a user gets.

The numba compile time is reported apart and not included. The fraction of the machine's peak counts the
kernel's flops per step (``CompiledModel.step_flops``: the state-dependent operations) against cores x 4 AVX2
float64 lanes x 2 FMA units x 2 flops per FMA x the clock of ``/proc/cpuinfo``.
"""
import argparse
import os
import time

import numpy as np

from analysis import load_model
from numerics import Axis, IteratedMap


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lanes", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--python-lanes", type=int, default=20)
    args = parser.parse_args()
    n, y, x = 4.0, 1.0, 1.0
    uv = IteratedMap(load_model("uv", "sp"), values={"eta": 0.5, "n": int(n), "y": y, "x": x})
    compiled = uv.compiled
    assert compiled.parameter_names == ["eta", "n", "y", "x"] and compiled.state_names == ["f", "lam"]
    eta = np.linspace(0.5, 3.0, args.lanes)
    initial = np.array([0.05, 1.0])
    keep = 10

    python_step = compiled.step_scalar.py_func
    start = time.perf_counter()
    for lane in range(args.python_lanes):
        f, lam = initial
        for _ in range(args.steps):
            f, lam = python_step(f, lam, eta[lane], n, y, x)
    python_rate = args.python_lanes * args.steps / (time.perf_counter() - start)

    start = time.perf_counter()
    f, lam = np.full(args.lanes, initial[0]), np.full(args.lanes, initial[1])
    with np.errstate(all="ignore"):
        for _ in range(args.steps):
            f, lam = compiled.step_numpy(f, lam, eta, n, y, x)
    numpy_rate = args.lanes * args.steps / (time.perf_counter() - start)

    params = np.tile(uv._params, (args.lanes, 1))
    params[:, compiled.parameter_names.index("eta")] = eta
    starts = np.tile(initial, (args.lanes, 1))
    start = time.perf_counter()
    compiled.orbit_kernel(starts[:64], params[:64], 10, 2)
    compile_time = time.perf_counter() - start
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        orbits = compiled.orbit_kernel(starts, params, args.steps, keep)
        best = min(best, time.perf_counter() - start)
    kernel_rate = args.lanes * args.steps / best

    best_public = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        diagram = uv.orbit_diagram(Axis("eta", eta), args.steps, keep, init={"f": initial[0], "lam": initial[1]})
        best_public = min(best_public, time.perf_counter() - start)
    public_rate = args.lanes * args.steps / best_public
    assert np.array_equal(diagram.diverged, ~np.isfinite(orbits).all(axis=(1, 2)))

    cores = os.cpu_count()
    threads = os.environ.get("NUMBA_NUM_THREADS", str(cores))
    clock = _clock_hz()
    peak = cores * 4 * 2 * 2 * clock
    flops = compiled.step_flops()
    print(f"UV (SP) orbit diagram: {args.lanes} eta values x {args.steps} steps, {threads} threads")
    print(f"{'implementation':<34}{'map steps/s':>13}{'vs numpy':>10}{'vs Python':>11}{'of peak':>9}")
    for name, rate in (("plain Python loop", python_rate), ("numpy, vectorised over eta", numpy_rate),
                       ("numba kernel alone", kernel_rate), ("IteratedMap.orbit_diagram (API)", public_rate)):
        print(f"{name:<34}{rate:>13.3e}{rate / numpy_rate:>9.1f}x{rate / python_rate:>10.0f}x"
              f"{rate * flops / peak:>9.1%}")
    print(f"peak: {cores} cores x 4 lanes x 2 FMA units x 2 flops x {clock / 1e9:.2f} GHz = {peak / 1e9:.1f} GFLOP/s; "
          f"{flops} flops per map step")
    print(f"numba compile (not included): {compile_time:.2f} s; kernel {best:.3f} s, API {best_public:.3f} s; "
          f"diverged lanes: {int(diagram.diverged.sum())}")


def _clock_hz() -> float:
    """The clock of the first core in ``/proc/cpuinfo`` (Linux), else 2.5 GHz (stated in the output)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) * 1e6
    except OSError:
        pass
    return 2.5e9

if __name__ == "__main__":
    main()
