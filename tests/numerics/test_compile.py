"""The generated numba kernels are compiled once per machine, not once per process: written as a module in the
cache directory and compiled with numba's on-disk cache (``numerics/compile.py``). Start-up times are measured by
``benchmarks/bench_startup.py``; this checks the mechanism, which a timing cannot show reliably on a loaded
machine: the second process loads the machine code and compiles nothing."""
import os
import subprocess
import sys

import numpy as np
import pytest

# Work above numerics.classify.SMALL_WORK, so that it runs the compiled kernels (smaller work is interpreted).
COMMAND = ["run", "uv-eos", "--set", "k=1.2", "--steps", "1000000", "--every", "100000", "--json"]


def _run(cache, *extra_env):
    env = dict(os.environ, SHARPNESS_CACHE_DIR=str(cache), NUMBA_DEBUG_CACHE="1", **dict(extra_env))
    out = subprocess.run([sys.executable, "-m", "numerics.cli", *COMMAND], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.slow  # fresh interpreters, each compiling the kernels
def test_second_process_loads_the_kernels_from_disk(tmp_path):
    first = _run(tmp_path)
    kernels = tmp_path / "kernels"
    modules = list(kernels.glob("sharpness_kernels_*.py"))
    assert len(modules) == 1
    assert f"data saved to '{kernels}" in first
    second = _run(tmp_path)
    assert f"data loaded from '{kernels}" in second
    assert f"data saved to '{kernels}" not in second  # nothing compiled again
    assert modules[0].stat().st_mtime == list(kernels.glob("sharpness_kernels_*.py"))[0].stat().st_mtime


@pytest.mark.slow  # fresh interpreters, each compiling the kernels
def test_an_unwritable_cache_compiles_in_memory_with_the_same_result(tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory should be")
    cached = _run(tmp_path / "cache")
    in_memory = _run(blocked)
    payload = lambda text: text[text.index("{"):]  # noqa: E731 - the JSON after numba's cache messages
    assert payload(cached) == payload(in_memory)


def test_kernels_agree_with_the_numpy_backend_on_every_model():
    """The orbit kernel (per-lane constants hoisted, products reassociated) against the lambdified map: equal
    to a few ulps per step; 20 steps from a contracting start keep it within 1e-12 relative."""
    from numerics.compile import compile_model

    cases = {("uv-eos", None): {"k": 1.2}, ("xy-quartic", None): {"eta": 0.2},
             ("uv", "mup"): {"eta": 0.5, "n": 4, "y": 1, "x": 1}}
    for (name, parameterization), values in cases.items():
        compiled = compile_model(name, parameterization)
        params = np.array([[float(values.get(n, 1.0)) for n in compiled.parameter_names]] * 3)
        starts = np.full((3, compiled.dimension), 0.5) + np.arange(3)[:, None] * 0.1
        orbits = compiled.orbit_kernel(starts, params, 20, 1)[:, -1, :]
        state = list(starts.T)
        for _ in range(20):
            state = [np.asarray(s, float) for s in compiled.step_numpy(*state, *params.T)]
        np.testing.assert_allclose(orbits, np.stack(state, -1), rtol=1e-12, atol=1e-14)


def test_stretch_kernel_is_benettins_qr_step_along_stored_states():
    """The one Lyapunov estimator's tangent propagation (compiled, along stored states, in batches, a frame of
    every column) against Benettin's step written here with numpy: ``Q R = J(s_t) Q`` by ``np.linalg.qr`` with the
    Jacobian from ``lambdify`` (not the generated kernel), summing log|R_ii| per batch. Same sums up to the order of
    rounding (Gram-Schmidt against Householder): 1e-12 absolute on sums of order 10 over 8 steps."""
    from numerics.compile import compile_model

    compiled = compile_model("uv", "sp")
    rng = np.random.default_rng(0)
    orbits = rng.uniform(0.1, 2.0, size=(7, 42, 2))
    params = np.tile([1.1, 4.0, 1.0, 1.0], (7, 1))
    sums = compiled.stretch_sums(orbits, params, batch=8, columns=2)
    assert sums.shape == (7, 5, 2)  # 41 steps: 5 batches of 8, the remainder dropped
    expected = np.zeros((7, 5, 2))
    for lane in range(7):
        frame = np.array([[1.0, -1.0], [1.0, 1.0]]) / np.sqrt(2)  # first column (1, 1)/sqrt(2)
        for t in range(40):
            entries = compiled.jacobian_numpy(*orbits[lane, t], *params[lane])
            frame, triangle = np.linalg.qr(np.array(entries, dtype=float) @ frame)
            expected[lane, t // 8] += np.log(np.abs(np.diag(triangle)))
    np.testing.assert_allclose(sums, expected, rtol=0, atol=1e-12)
    # One column is the first column of the full frame (Gram-Schmidt leaves the first vector alone).
    np.testing.assert_allclose(compiled.stretch_sums(orbits, params, batch=8)[..., 0], sums[..., 0], rtol=0, atol=1e-13)


def test_small_work_interpreted_and_compiled_kernels_agree(monkeypatch):
    """Small work runs the kernel source in CPython (no numba load; ``CompiledModel.kernels_for``). Same source,
    same operation order: trajectories agree to round-off (1e-12 relative over the first 30 steps of a chaotic
    run, where the ulps of an integer power may differ), and every label agrees, divergence included."""
    from numerics import IteratedMap
    from numerics import classify as classify_module

    cases = [("uv-eos", None, {"k": 1.2}), ("uv-eos", None, {"k": 1.95}), ("uv-eos", None, {"k": 3}),
             ("uv", "sp", {"eta": 0.5, "y": 1, "n": 4}), ("uv", "sp", {"eta": 3, "y": 1, "n": 4}),
             ("xy-quartic", None, {"eta": 0.1})]
    for name, parameterization, values in cases:
        bound = IteratedMap(name if parameterization is None else __import__("analysis").load_model(
            name, parameterization), values)
        monkeypatch.setattr(classify_module, "SMALL_WORK", 10 ** 9)
        interpreted = bound.run(400).to_dict()
        lyapunov_interpreted = bound.lyapunov(steps=600, transient=100, batches=4).to_dict()
        monkeypatch.setattr(classify_module, "SMALL_WORK", -1)
        compiled = bound.run(400).to_dict()
        lyapunov_compiled = bound.lyapunov(steps=600, transient=100, batches=4).to_dict()
        assert interpreted["outcome"] == compiled["outcome"], (name, values)
        assert [r["name"] for r in interpreted["regimes"]] == [r["name"] for r in compiled["regimes"]]
        for key in bound.compiled.state_names:
            a, b = np.array(interpreted["trajectory"][key][:30]), np.array(compiled["trajectory"][key][:30])
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
        if lyapunov_compiled.get("exponents"):
            np.testing.assert_allclose(lyapunov_interpreted["exponents"], lyapunov_compiled["exponents"],
                                       rtol=1e-6, atol=1e-9)  # 600 steps of a chaotic orbit: ulps grow
        else:
            assert lyapunov_interpreted.get("diverged_at") == lyapunov_compiled.get("diverged_at")
