"""Compiled numerics: kernels against SymPy in mpmath, trajectories against an independent numpy loop, the
flip points against the ones derivable by hand, the Feigenbaum cascade and the Lyapunov exponent at the
Chebyshev point of uv-eos."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from analysis import load_model
from numerics import IteratedMap, cascade
from numerics.compile import compile_model
from numerics.flips import FEIGENBAUM_DELTA
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
    uv = IteratedMap(load_model("uv", parameterization), eta=eta_value, n=width, y=y_value, x=1)
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
    assert result.outcome["name"] == "converged"


def test_outcomes_are_labelled():
    outcome = lambda k: IteratedMap("uv-eos", k=k).run(3000, init={"z": 0.3}).outcome  # noqa: E731
    assert outcome(0.5)["name"] == "converged"
    assert outcome(1.2) == {"name": "periodic", "period": 2}
    assert outcome(1.27) == {"name": "periodic", "period": 4}
    chaotic = outcome(1.9)
    assert chaotic["name"] == "chaotic" and chaotic["lyapunov"] > 0.5
    assert outcome(2.2)["name"] == "diverged"


def test_divergence_is_an_outcome_not_a_crash():
    uv = IteratedMap(load_model("uv", "sp"), eta=5, n=4, y=1, x=1)
    result = uv.run(1000, init={"f": 0.05, "lam": 1.0})
    assert result.outcome["name"] == "diverged" and result.outcome["step"] > 0
    assert result.regimes[-1]["name"] == "divergence"
    assert all(np.isfinite(result.trajectory["f"]))


def test_catapult_is_the_spike_and_nothing_after_it_is_an_edge_of_stability():
    """eta lam0 > 2 at small output: the loss spikes and the sharpness drops below 2/eta (catapult)."""
    uv = IteratedMap(load_model("uv", "sp"), eta=sp.Rational(5, 2), n=100, y=1, x=1)
    initial = {"f": 0.05, "lam": 1.0}
    result = uv.run(2000, init=initial)
    # The catapult is the loss spike only: the loss rises from 0.45 and is back below it at step 5.
    assert result.regimes[0] == {"name": "catapult", "start": 0, "end": 5}
    loss = np.array(result.trajectory["loss"])
    assert loss[:5].max() > 2 * loss[0] and loss[5] < loss[0]
    # After it the sharpness is 0.43, about half of 2/eta = 0.8: no later step may be called an edge of stability.
    sharpness = np.array(result.trajectory["sharpness"])
    assert sharpness[6:].max() < 0.6 * result.threshold
    assert all(r["name"] != "edge of stability" for r in result.regimes)
    assert result.regimes[-1]["name"] == "intermediate saturation"
    assert result.final["sharpness"] < result.threshold
    # Thinning the output must not thin the labelling: a 6-step catapult survives --every 20.
    thinned = uv.run(2000, init=initial, every=20)
    assert thinned.regimes == result.regimes and thinned.regime_resolution == 1
    assert len(thinned.trajectory["f"]) == 101


def test_first_flip_by_multiplier_condition_equals_hand_derivation():
    """The multiplier condition reproduces k = 1 (z = +-1: mu = 1 - 2k = -1) to 1e-35, and the period-2 flip at
    k = sqrt(5) - 1 (2-cycle z1 + z2 analysis of the cubic map) to 1e-35 (refined at 40 digits)."""
    result = cascade("uv-eos", "k", doublings=8, digits=40)
    flips = result.bifurcations
    assert flips[0]["exact"] == 1
    assert abs(flips[0]["parameter"] - 1) < mpmath.mpf(10) ** -35
    with mpmath.workdps(40):
        assert abs(flips[1]["parameter"] - (mpmath.sqrt(5) - 1)) < mpmath.mpf(10) ** -35
    assert [f["period"] for f in flips] == [1, 2, 4, 8, 16, 32, 64, 128]
    # Ratios approach Feigenbaum's delta: error shrinks by ~delta each doubling; the 6th ratio is within 1e-4.
    errors = [abs(d - FEIGENBAUM_DELTA) for d in result.delta]
    assert errors[-1] < 1e-4
    assert all(b < a for a, b in zip(errors, errors[1:]))


def test_uv_flip_matches_eos_reduction():
    """The first flip of uv-eos (k = 1) is, through the derived k = eta x y (muP), eta = 1/(x y) on uv."""
    uv = load_model("uv", "mup")
    (aligned, _) = uv.eos_map.manifolds
    x, y = (uv.model.parameter(name).symbol for name in ("x", "y"))
    assert sp.simplify(aligned.first_flip_step[0] - 1 / (x * y)) == 0


def test_lyapunov_at_the_chebyshev_point():
    """k = 2: z = sqrt(2) w conjugates z -> 3z - 2z^3 to w -> 3w - 4w^3 = -T_3(w), whose Lyapunov exponent is
    ln 3 exactly. The estimate must lie within 5 standard errors (batch means) and within 1e-3."""
    result = IteratedMap("uv-eos", k=2).lyapunov(400_000, init={"z": 0.3})
    (exponent,), (stderr,) = result.exponents, result.stderr
    assert abs(exponent - math.log(3)) < max(5 * stderr, 1e-9)
    assert abs(exponent - math.log(3)) < 1e-3


def test_lyapunov_spectrum_of_uv_is_sorted_and_sums_to_log_det():
    """For the 2-D uv map the exponents are descending and their sum equals the mean log|det J| (Benettin's QR
    conserves volume growth), computed independently here from the compiled Jacobian along the same orbit."""
    uv = IteratedMap(load_model("uv", "mup"), eta=sp.Rational(13, 10), n=3, y=1, x=1)
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
    diagram = IteratedMap("uv-eos", k=1).orbit_diagram("k", np.linspace(0.5, 2.5, 50), 500, 10, init={"z": 0.5})
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

    bound = IteratedMap(load_model("uv", "sp"), eta=1, y=1, n=4)
    basin = bound.basin({"f": (-2, 2, 33), "lam": (0.1, 3, 30)}, steps=200)
    grid_f, grid_lam = np.meshgrid(*basin.grids)
    np.testing.assert_array_equal(basin.realizable.astype(bool), grid_lam >= np.abs(grid_f) - 1e-12)
    assert basin.unrealizable == int((grid_lam < np.abs(grid_f) - 1e-12).sum()) > 0
    assert basin.to_dict()["unrealizable"] == basin.unrealizable
    quartic = IteratedMap(load_model("xy-quartic"), eta=0.1).basin({"x": (0.5, 2, 8), "y": (0.5, 2, 8)}, steps=50)
    assert quartic.realizable is None and "realizable" not in quartic.to_dict()
