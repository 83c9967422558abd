"""Compiled runs (numerics.iterated_map): kernels against SymPy in mpmath, trajectories against an independent
numpy loop, Lyapunov spectra, orbit diagrams and basins."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from analysis import load_model
from numerics import Axis, IteratedMap
from numerics.compile import compile_model
from tests import uv_reference as ref


CASES = [("uv", "sp"), ("uv", "mup"), ("uv-eos", None)]


def random_point(compiled, rng):
    values = {}
    for p in compiled.model.parameters:
        values[p.symbol] = sp.Integer(int(rng.integers(1, 50))) if p.domain == "positive_integer" else (
            sp.Rational(int(rng.integers(1, 300)), 100) if p.domain == "positive" else sp.Rational(int(rng.integers(-300, 300)), 100))
    state = {s: sp.Rational(int(rng.integers(-300, 300)), 100) for s in compiled.state_symbols}
    return values, state


@pytest.mark.parametrize("model,parameterization", CASES)
def test_kernels_against_sympy_in_mpmath(model, parameterization):
    """numpy, numba and mpmath kernels of map, Jacobian and sharpness equal SymPy's exact expressions evaluated in
    mpmath at 30 digits, to relative 1e-13 (float64 kernels, a few roundings of O(1)-conditioned arithmetic)."""
    compiled = compile_model(load_model(model, parameterization))
    rng = np.random.default_rng(3)
    with mpmath.workdps(30):
        _check_kernels(compiled, rng)


def _check_kernels(compiled, rng):
    for _ in range(25):
        values, state = random_point(compiled, rng)
        exact = {**values, **state}
        args = [float(state[s]) for s in compiled.state_symbols] + [float(values[s]) for s in compiled.parameter_symbols]
        expected_map = [mpmath.mpf(sp.N(e.subs(exact), 30)) for e in compiled.map_exprs]
        expected_jac = [mpmath.mpf(sp.N(e.subs(exact), 30)) for e in compiled.jacobian_expr]
        scale = 1 + max(abs(v) for v in expected_map)
        for got in (compiled.step_numpy(*args), compiled.step_scalar(*args)):
            for g, e in zip(got, expected_map):
                assert abs(g - e) <= 1e-13 * scale
        jac_scale = 1 + max(abs(v) for v in expected_jac)
        for got in (np.ravel(compiled.jacobian_numpy(*args)), compiled.jacobian_scalar(*args)):
            for g, e in zip(got, expected_jac):
                assert abs(g - e) <= 1e-13 * jac_scale
        sharp = sp.N(compiled.sharpness_expr.subs(exact), 30)
        if sharp.is_real:
            assert abs(compiled.sharpness_numpy(*args) - mpmath.mpf(sharp)) <= 1e-13 * (1 + abs(mpmath.mpf(sharp)))
        exact_args = [mpmath.mpf(sp.N(v, 40)) for v in [state[s] for s in compiled.state_symbols] +
                      [values[s] for s in compiled.parameter_symbols]]
        # 1e-25: the mpmath kernel runs at 30 digits on exact inputs; a few roundings at 1e-30 stay far below.
        for g, e in zip(compiled.step_mpmath(*exact_args), expected_map):
            assert abs(g - e) <= mpmath.mpf(10) ** -25 * scale


@pytest.mark.parametrize("parameterization", ["sp", "mup"])
def test_uv_trajectory_against_independent_numpy_loop(parameterization):
    """`sharpness run` on uv equals a parameter-space GD loop written here (relative 1e-10 over 300 steps in a
    converging regime; sharpness by eigvalsh of the explicit Hessian)."""
    width, x_value, y_value, eta_value = 6, 1.0, 0.9, 0.35
    uv = IteratedMap(load_model("uv", parameterization), values={"eta": eta_value, "n": width, "y": y_value, "x": 1})
    rng = np.random.default_rng(11)
    u, v = rng.normal(size=width), rng.normal(size=width)
    initial = {"f": ref.output(u, v, x_value, parameterization), "lam": ref.ntk(u, v, x_value, parameterization)}
    result = uv.run(300, init=initial)
    for step in range(300):
        u, v = ref.gd_step(u, v, x_value, y_value, eta_value, parameterization)
    assert result.final["f"] == pytest.approx(ref.output(u, v, x_value, parameterization), rel=1e-10)
    assert result.final["lam"] == pytest.approx(ref.ntk(u, v, x_value, parameterization), rel=1e-10)
    top = np.linalg.eigvalsh(ref.hessian(u, v, x_value, y_value, parameterization))[-1]
    # 1e-9 (looser than the state): eigvalsh of the explicit Hessian adds its own backward error.
    assert result.final["sharpness"] == pytest.approx(top, rel=1e-9)
    assert result.outcome.name == "converged"


def test_lyapunov_at_the_chebyshev_point():
    """k = 2: z = sqrt(2) w conjugates z -> 3z - 2z^3 to w -> 3w - 4w^3 = -T_3(w), whose Lyapunov exponent is
    ln 3 exactly. The estimate must lie within 5 standard errors (batch means) and within 1e-3."""
    result = IteratedMap("uv-eos", values={"k": 2}).lyapunov(400_000, init={"z": 0.3})
    (exponent,), (stderr,) = result.exponents, result.stderr
    assert abs(exponent - math.log(3)) < max(5 * stderr, 1e-9)
    assert abs(exponent - math.log(3)) < 1e-3


def test_lyapunov_spectrum_of_uv_is_sorted_and_sums_to_log_det():
    """For the 2-D uv map the exponents are descending and their sum equals the mean log|det J| (Benettin's QR
    conserves volume growth), computed independently here from the compiled Jacobian along the same orbit."""
    uv = IteratedMap(load_model("uv", "mup"), values={"eta": sp.Rational(13, 10), "n": 3, "y": 1, "x": 1})
    result = uv.lyapunov(20_000, transient=100, init={"f": 0.5, "lam": 1.0 + 1e-3})
    exponents = result.exponents
    assert exponents == sorted(exponents, reverse=True)
    compiled, params = uv.compiled, uv._params
    state = np.array([0.5, 1.0 + 1e-3])
    for _ in range(100):
        state = np.array(compiled.step_numpy(*state, *params))
    total = 0.0
    for _ in range(20_000):
        total += np.log(abs(np.linalg.det(np.asarray(compiled.jacobian_numpy(*state, *params), float))))
        state = np.array(compiled.step_numpy(*state, *params))
    # abs 1e-9: the same float64 orbit on both sides; only the summation order of 20,000 logs differs.
    assert sum(exponents) == pytest.approx(total / 20_000, abs=1e-9)


def test_orbit_diagram_marks_divergence():
    diagram = IteratedMap("uv-eos", values={"k": 1}).orbit_diagram(Axis("k", np.linspace(0.5, 2.5, 50)), 500, 10,
                                                                   init={"z": 0.5})
    assert diagram.orbits.shape == (50, 10, 1)
    assert not diagram.diverged[diagram.values < 2.0].any()
    assert diagram.diverged[diagram.values > 2.3].all()
    # atol 1e-9: for k < 0.9 the fixed point z = 1 attracts with multiplier |1 - 2k| <= 0.8, so 500 steps
    # bring the orbit to round-off.
    np.testing.assert_allclose(diagram.orbits[diagram.values < 0.9, -1, 0], 1.0, atol=1e-9)


def test_basin_marks_initial_states_no_network_has():
    """UV (SP, n = 4, kappa = 1/2): a state is realizable iff lam >= 2 kappa |f| = |f| (the Gram matrix of u, v is
    PSD; closed form worked here). The basin's realizable grid equals that rule on every cell (cells on the
    boundary included, decided by the rule with a 1e-12 margin), and the CLI says how many are not realizable.
    A coordinate model has no realizability grid."""
    from numerics import IteratedMap

    bound = IteratedMap(load_model("uv", "sp"), values={"eta": 1, "y": 1, "n": 4})
    basin = bound.basin([Axis.parse("f=-2:2:33"), Axis.parse("lam=0.1:3:30")], steps=200)
    grid_f, grid_lam = np.meshgrid(*basin.grids)
    np.testing.assert_array_equal(basin.realizable.astype(bool), grid_lam >= np.abs(grid_f) - 1e-12)
    assert basin.unrealizable == int((grid_lam < np.abs(grid_f) - 1e-12).sum()) > 0
    assert basin.to_dict()["unrealizable"] == basin.unrealizable
    quartic = IteratedMap(load_model("xy-quartic"), values={"eta": 0.1}).basin([Axis.parse("x=0.5:2:8"), Axis.parse("y=0.5:2:8")],
                                                                               steps=50)
    assert quartic.realizable is None and "realizable" not in quartic.to_dict()


# ------------------------------------------------------------------------------------------ outcomes and regimes
