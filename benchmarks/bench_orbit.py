"""Benchmark: UV map steps per second of an orbit diagram, against a hand-blocked numba kernel and the machine's peak.

Run: ``python benchmarks/bench_orbit.py`` (both problem sizes: 10,000 eta values x 10,000 steps and 20,000 x
100,000; ``--sizes 10000x10000`` for one). The same derived map (UV in SP, n = 4, y = x = 1, eta from 0.5 to 3,
all from (f, lam) = (0.05, 1)), measured in the same run, best of ``--repeats``:

* the **baseline**: a numba kernel written by hand for this map (below, :func:`baseline_orbits`): blocks of 32
  lanes (8 AVX2 vectors of 4 doubles) over eta, the lane loop innermost with a constant trip count, the
  parameter-only factors as scalars, blocks on threads. It computes the same operations in the same order as the
  generated kernel, and the benchmark checks that its orbits are bit for bit the generated kernel's;
* the generated kernel alone, general (``IteratedMap.compiled.orbit_kernel``: every parameter per lane) and
  specialised to lanes that differ in eta only (``compiled.orbit_kernel_along(0)``, what an orbit diagram runs);
* the latter classifying every lane in its pass (``compiled.classified_orbits(..., along=0)``);
* the public ``IteratedMap.orbit_diagram`` (validation of every eta, the initial state, the kernel with the
  classification, the result object): what a Python user gets;
* ``sharpness bifurcation`` run in this process (``numerics.cli.main``: parsing, the request, the same call and the
  summary line; a fresh process adds about 0.7 s of imports, ``benchmarks/bench_startup.py``), without ``--json``;
  the JSON of the same diagram (``--keep 10``) is timed apart, the project's writer against ``json.dump``.

The ratio column is each rate over the baseline's (the target of issue 23: the API and the command at >= 0.8).
The last two columns divide by the CPU time of the process (both threads) instead of the wall time: on a machine
that other jobs load, the wall times of a parallel kernel scatter, the CPU time less (numba's OpenMP threads spin
for a while after each parallel region, which counts as CPU time while Python runs on).

The machine's limits: the peak ``cores x 4 AVX2 float64 lanes x 2 FMA units x 2 flops x clock`` at the nominal
clock of ``/proc/cpuinfo`` (the "of peak" column, as issue 23 counts it), and the multiply-bound step rate
``cores x 4 lanes x 2 multiply ports x clock / multiplies per step``, at the nominal clock and at the clock
*measured* (:func:`measured_clock_hz`: chains of dependent float64 multiplies; the cores run above nominal). The kernels
count ``CompiledModel.step_flops`` = 15 flops per step (10 of them multiplies, an integer square counted as one);
numba fuses no multiply into an add (no ``fastmath``) and LLVM uses 256-bit vectors here, so the multiplies bind.
numba's compile time is not included (a warm-up call per kernel).
"""
import argparse
import contextlib
import io
import json
import os
import sys
import time

import numba
import numpy as np

from analysis import load_model
from numerics import Axis, IteratedMap
from numerics.cli import main as sharpness
from numerics.classify import TAIL
from numerics.cli.render import print_json
from numerics.serialize import finite

ETA = (0.5, 3.0)
INITIAL = (0.05, 1.0)
KEEP = 10
VECTOR, VECTORS = 4, 8  # doubles per AVX2 vector (LLVM's width here), vectors per block of lanes
BLOCK = VECTOR * VECTORS


@numba.njit(parallel=True, nogil=True, error_model="numpy")
def baseline_orbits(f0, lam0, eta, n, y, x, steps, keep):
    """The UV (SP) map written by hand: ``f' = c1 lam + c4 c5 + f``, ``lam' = 4 c1 c4 + c5 k lam + lam`` with
    ``c0 = y - f``, ``c1 = c0 eta``, ``k = x^2 / n``, ``c4 = k f``, ``c5 = c0^2 eta^2``, in blocks of :data:`BLOCK`
    lanes; the last ``keep`` states of every lane."""
    lanes = eta.size
    out = np.empty((lanes, keep, 2))
    k = (1.0 / n) * (x * x)
    for b in numba.prange((lanes + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        width = min(BLOCK, lanes - lo)
        f, lam, a, a2 = np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK)
        for j in range(BLOCK):  # pad lanes repeat the last one and are not written out
            e = eta[lo + min(j, width - 1)]
            f[j], lam[j], a[j], a2[j] = f0, lam0, e, e * e
        for t in range(steps):
            for j in range(BLOCK):
                c0 = y - f[j]
                c1 = c0 * a[j]
                c4 = k * f[j]
                c5 = c0 * c0 * a2[j]
                fj = c1 * lam[j] + c4 * c5 + f[j]
                lam[j] = 4 * c1 * c4 + c5 * k * lam[j] + lam[j]
                f[j] = fj
            record = t - (steps - keep)
            if record >= 0:
                for j in range(width):
                    out[lo + j, record, 0] = f[j]
                    out[lo + j, record, 1] = lam[j]
    return out


def best_time(call, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        value = call()
        best = min(best, time.perf_counter() - start)
    return best, value


def measure(uv, lanes, steps, repeats, python_lanes):
    compiled = uv.compiled
    eta = np.linspace(*ETA, lanes)
    params = np.tile(uv._params, (lanes, 1))
    params[:, compiled.parameter_names.index("eta")] = eta
    starts = np.tile(INITIAL, (lanes, 1))
    n, y, x = (uv.parameters[name] for name in ("n", "y", "x"))
    init = dict(zip(compiled.state_names, INITIAL))
    argv = ["bifurcation", "uv", "--parameterization", "sp", "--set", f"n={n:g}", "--set", f"y={y:g}",
            "--set", f"x={x:g}", "--init", f"f={INITIAL[0]}", "--init", f"lam={INITIAL[1]}",
            "--vary", f"eta={ETA[0]}:{ETA[1]}:{lanes}", "--steps", str(steps), "--keep", str(KEEP)]
    index = compiled.parameter_names.index("eta")
    along = compiled.orbit_kernel_along(index)
    rates = {}
    if python_lanes:
        python_step = compiled.step_scalar.py_func
        start = time.perf_counter()
        for lane in range(python_lanes):
            f, lam = INITIAL
            for _ in range(steps):
                f, lam = python_step(f, lam, eta[lane], n, y, x)
        rates["plain Python loop"] = python_lanes * steps / (time.perf_counter() - start)

        def numpy_loop():
            f, lam = np.full(lanes, INITIAL[0]), np.full(lanes, INITIAL[1])
            with np.errstate(all="ignore"):
                for _ in range(steps):
                    f, lam = compiled.step_numpy(f, lam, eta, n, y, x)

        rates["numpy, vectorised over eta"] = lanes * steps / best_time(numpy_loop, 1)[0]
    timed = {
        "hand-blocked numba baseline": lambda: baseline_orbits(*INITIAL, eta, n, y, x, steps, KEEP),
        "generated kernel, any lanes": lambda: compiled.orbit_kernel(starts, params, steps, KEEP),
        "generated kernel along eta": lambda: along(starts, eta, uv._params, steps, KEEP),
        "the same + classification": lambda: compiled.classified_orbits(starts, (eta, uv._params), steps, KEEP,
                                                                         max(KEEP, TAIL), along=index),
        "IteratedMap.orbit_diagram (API)": lambda: uv.orbit_diagram(Axis("eta", eta), steps, KEEP, init=init),
        "sharpness bifurcation (in-process)": lambda: _quiet(sharpness, argv),
    }
    results = {}
    for name, call in timed.items():
        call()  # warm: compilation, thread start-up, caches
    cpu_rates = {}
    for _ in range(repeats):  # interleaved, so that a burst of load elsewhere hits every line alike
        for name, call in timed.items():
            cpu = time.process_time()
            elapsed, results[name] = best_time(call, 1)
            cpu = time.process_time() - cpu
            rates[name] = max(rates.get(name, 0.0), lanes * steps / elapsed)
            cpu_rates[name] = max(cpu_rates.get(name, 0.0), lanes * steps / cpu)
    orbits = results["generated kernel, any lanes"]
    assert np.array_equal(results["generated kernel along eta"], orbits, equal_nan=True)
    assert np.array_equal(results["hand-blocked numba baseline"], orbits, equal_nan=True), \
        "the baseline must compute the generated kernel's orbits bit for bit"
    diagram = results["IteratedMap.orbit_diagram (API)"]
    assert np.array_equal(diagram.orbits, orbits, equal_nan=True)
    assert results["sharpness bifurcation (in-process)"] == 0
    json_time, text = best_time(lambda: _captured(print_json, diagram.to_dict(arrays=True)), repeats)
    plain_time, reference = best_time(lambda: _captured(_json_dump, diagram.to_dict()), repeats)
    assert text == reference, "the JSON writer must print what json.dump prints"
    counts = {name: diagram.outcomes.count(name) for name in dict.fromkeys(diagram.outcomes)}
    return rates, {"cpu": cpu_rates, "json": json_time, "json.dump": plain_time, "bytes": len(text), "counts": counts}


def _json_dump(payload):
    json.dump(finite(payload), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def _captured(call, *arguments):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        call(*arguments)
    return buffer.getvalue()


def _quiet(call, *arguments):
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
        return call(*arguments)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["10000x10000", "20000x100000"], metavar="LANESxSTEPS")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--python-lanes", type=int, default=20, help="lanes of the plain Python loop (first size)")
    args = parser.parse_args()
    uv = IteratedMap(load_model("uv", "sp"), values={"eta": 0.5, "n": 4, "y": 1.0, "x": 1.0})
    flops = uv.compiled.step_flops()
    multiplies = _multiplies(uv.compiled)
    cores = numba.get_num_threads()
    load = os.getloadavg()
    clock = measured_clock_hz()
    nominal = _nominal_clock_hz() or clock
    peak = cores * 4 * 2 * 2 * nominal
    print(f"UV (SP) orbit diagrams; {cores} threads; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          "at the start")
    print(f"peak: {cores} cores x 4 AVX2 lanes x 2 FMA units x 2 flops x {nominal / 1e9:.2f} GHz (/proc/cpuinfo) = "
          f"{peak / 1e9:.1f} GFLOP/s; {flops} flops per map step, {multiplies} of them multiplies: the multiply ports "
          f"bound a step at {cores * 4 * 2 * nominal / multiplies:.2e} steps/s at that clock, "
          f"{cores * 4 * 2 * clock / multiplies:.2e} at the {clock / 1e9:.2f} GHz measured (turbo)")
    for number, size in enumerate(args.sizes):
        lanes, steps = (int(v) for v in size.lower().split("x"))
        rates, extra = measure(uv, lanes, steps, args.repeats, args.python_lanes if number == 0 else 0)
        base = rates["hand-blocked numba baseline"]
        print(f"\n{lanes:,} eta values x {steps:,} steps, keep {KEEP}")
        cpu = extra["cpu"]
        print(f"{'implementation':<38}{'map steps/s':>13}{'/ baseline':>12}{'GFLOP/s':>9}{'of peak':>9}"
              f"{'per CPU-s':>12}{'/ baseline':>12}")
        for name, rate in rates.items():
            per_cpu = (f"{cpu[name]:>12.3e}{cpu[name] / cpu['hand-blocked numba baseline']:>11.2f}x" if name in cpu
                       else "")
            print(f"{name:<38}{rate:>13.3e}{rate / base:>11.2f}x{rate * flops / 1e9:>9.1f}{rate * flops / peak:>9.1%}"
                  + per_cpu)
        print(f"outcomes: {extra['counts']}")
        print(f"JSON of the diagram ({extra['bytes'] / 1e6:.1f} MB): the project's writer {extra['json']:.3f} s, "
              f"json.dump {extra['json.dump']:.3f} s (the same text)")
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")


@numba.njit
def _multiply_chain(count, factor):
    value = 1.0
    for _ in range(count):
        value = value * factor  # each multiply waits for the previous one: its latency, 4 cycles
    return value


def measured_clock_hz(count: int = 50_000_000, runs: int = 9) -> float:
    """The core clock from chains of ``count`` dependent float64 multiplies (4 cycles of latency each on Intel's
    Golden Cove and Skylake cores): the median of ``runs`` (on this VM single runs scatter by +-20 %, the turbo
    clock and other jobs moving them)."""
    _multiply_chain(10, 1.0)
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        _multiply_chain(count, 1.0 + 1e-12)
        rates.append(4 * count / (time.perf_counter() - start))
    return float(np.median(rates))


def _multiplies(compiled) -> int:
    """Multiplies per step of the orbit kernel (integer squares counted as one)."""
    import sympy as sp

    _, updates, results = compiled._lane_split()
    counted = sum((sp.count_ops(e, visual=True) for e in [e for _, e in updates] + list(results)), sp.S(0))
    return int(counted.coeff(sp.Symbol("MUL")) + counted.coeff(sp.Symbol("POW")))


def _nominal_clock_hz() -> float:
    """The clock of the first core in ``/proc/cpuinfo`` (Linux; 0 where there is none)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) * 1e6
    except OSError:
        pass
    return 0.0


if __name__ == "__main__":
    main()
