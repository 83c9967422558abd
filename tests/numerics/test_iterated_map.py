"""Compiled numerics: kernels against SymPy in mpmath, trajectories against an independent numpy loop, the
flip points against the ones derivable by hand, the Feigenbaum cascade and the Lyapunov exponent at the
Chebyshev point of uv-eos."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from analysis import load_model
from numerics import Axis, IteratedMap, Outcome, cascade
from numerics.compile import compile_model
from numerics.feigenbaum import FEIGENBAUM_DELTA
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


def test_outcomes_are_labelled():
    outcome = lambda k: IteratedMap("uv-eos", values={"k": k}).run(3000, init={"z": 0.3}).outcome  # noqa: E731
    assert outcome(0.5).name == "converged"
    assert outcome(1.2).to_dict() == {"name": "periodic", "period": 2}
    assert outcome(1.27) == Outcome("periodic", period=4)
    chaotic = outcome(1.9)
    assert chaotic.name == "chaotic" and chaotic.lyapunov > 0.5
    assert outcome(2.2).name == "diverged"


def test_divergence_is_an_outcome_not_a_crash():
    uv = IteratedMap(load_model("uv", "sp"), values={"eta": 5, "n": 4, "y": 1, "x": 1})
    result = uv.run(1000, init={"f": 0.05, "lam": 1.0})
    assert result.outcome.name == "diverged" and result.outcome.step > 0
    assert result.regimes[-1].name == "divergence"
    assert all(np.isfinite(result.trajectory["f"]))


def test_catapult_is_the_spike_and_nothing_after_it_is_an_edge_of_stability():
    """eta lam0 > 2 at small output: the loss spikes and the sharpness drops below 2/eta (catapult)."""
    uv = IteratedMap(load_model("uv", "sp"), values={"eta": sp.Rational(5, 2), "n": 100, "y": 1, "x": 1})
    initial = {"f": 0.05, "lam": 1.0}
    result = uv.run(2000, init=initial)
    # The catapult is the loss spike only: the loss rises from 0.45 and is back below it at step 5.
    assert result.regimes[0].to_dict() == {"name": "catapult", "start": 0, "end": 5}
    loss = np.array(result.trajectory["loss"])
    assert loss[:5].max() > 2 * loss[0] and loss[5] < loss[0]
    # After it the sharpness is 0.43, about half of 2/eta = 0.8: no later step may be called an edge of stability.
    sharpness = np.array(result.trajectory["sharpness"])
    assert sharpness[6:].max() < 0.6 * result.threshold
    assert all(r.name != "edge of stability" for r in result.regimes)
    assert result.regimes[-1].name == "intermediate saturation"
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
    (aligned, _) = uv.eos_map.reductions
    x, y = (uv.model.parameter(name).symbol for name in ("x", "y"))
    assert sp.simplify(aligned.first_flip_step[0] - 1 / (x * y)) == 0


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
def _cubic_orbit(k, z, steps):
    """Plain Python floats: the uv-eos map z -> z + k (z - z^3), written here, not generated."""
    orbit = [z]
    for _ in range(steps):
        z = z + k * (z - z * z * z)
        orbit.append(z)
    return orbit


# Between the flips of period 2048 (k = 1.30228344917...) and 4096 (k = 1.30228345980..., `cascade uv-eos`): the
# attractor has period 4096 and a Lyapunov exponent of about -7e-4 (the test measures both itself).
PERIOD_4096_K = 1.302283455


def test_a_long_periodic_orbit_is_never_chaotic():
    """The period-4096 attractor near the accumulation point: the 192-step tail estimate called it chaotic
    (lambda = 0.0085); now a window too short for its period is undetermined (the error bar does not exclude
    zero) and a run long enough for two periods finds period 4096. Independent: a plain float loop gives the period
    (4096 repeats to 1e-9, 2048 does not) and the exponent (mean of log|1 + k - 3 k z^2| over 100 periods)."""
    orbit = _cubic_orbit(PERIOD_4096_K, 0.5, 200_000 + 4096 * 100)
    tail = np.array(orbit[200_000:])
    assert np.abs(tail[4096:8193] - tail[:4097]).max() < 1e-9 and np.abs(tail[2048:4097] - tail[:2049]).max() > 1e-6
    exponent = np.mean(np.log(np.abs(1 + PERIOD_4096_K - 3 * PERIOD_4096_K * tail[:-1] ** 2)))
    assert -1e-3 < exponent < -4e-4  # ~ -7e-4: attracting, but only just
    cubic = IteratedMap("uv-eos", values={"k": PERIOD_4096_K})
    for steps in (5000, 20_000):
        outcome = cubic.run(steps).outcome
        assert outcome.name == "undetermined", outcome
        assert abs(outcome.lyapunov) <= 3 * outcome.lyapunov_error  # zero not excluded: no claim
        assert outcome.window == steps // 2 and outcome.max_period == steps // 4
    assert cubic.run(100_000).outcome.to_dict() == {"name": "periodic", "period": 4096}


def test_chaotic_exponent_within_its_error_bar_of_a_long_run():
    """k = 1.45: the 192-step tail said 0.476; the long-run exponent of the cubic map, a plain loop of
    log|1 + k - 3 k z^2| over 10^6 steps (statistical error ~1e-3), is 0.303. The run's estimate over its last
    10,000 steps must contain it within 3 of its standard errors, and the error must be small enough to say
    something (below 0.03); ``lyapunov`` (the same estimator over 200,000 steps) likewise."""
    orbit = np.array(_cubic_orbit(1.45, 0.3, 1_010_000)[10_000:])
    reference = float(np.mean(np.log(np.abs(1 + 1.45 - 3 * 1.45 * orbit[:-1] ** 2))))
    assert 0.29 < reference < 0.32
    outcome = IteratedMap("uv-eos", values={"k": 1.45}).run(20_000).outcome
    assert outcome.name == "chaotic" and outcome.window == 10_000
    assert 0 < outcome.lyapunov_error < 0.03
    assert abs(outcome.lyapunov - reference) <= 3 * outcome.lyapunov_error
    spectrum = IteratedMap("uv-eos", values={"k": 1.45}).lyapunov(200_000)
    assert abs(spectrum.exponents[0] - reference) <= 3 * spectrum.stderr[0] + 2e-3  # + the reference's own error


def test_stationary_chaos_is_one_edge_of_stability_regime():
    """k = 1.9 from z = 0.5: bounded (|z| < 1.5) and oscillating around the threshold for 5000 steps with a positive
    exponent (plain loop); it used to alternate catapult / edge of stability / 3-6 step saturation fragments.
    Now one regime, and no catapult (a spike inside a stationary oscillation is not one)."""
    orbit = np.array(_cubic_orbit(1.9, 0.5, 5000))
    assert np.abs(orbit).max() < 1.5
    assert np.mean(np.log(np.abs(1 + 1.9 - 3 * 1.9 * orbit[1000:-1] ** 2))) > 0.5
    result = IteratedMap("uv-eos", values={"k": 1.9}).run(5000)
    assert [r.to_dict() for r in result.regimes] == [{"name": "edge of stability", "start": 0, "end": 5000}]
    assert result.outcome.name == "chaotic" and result.outcome.roundoff_sensitive is True


def test_divergence_starts_where_the_orbit_leaves_its_bounded_region():
    """k = 2.0005 escapes after a chaotic transient (the invariant interval of k = 2 has a hole). The divergence
    regime starts where |z| exceeds every value it had before and never comes back (computed here on the state,
    the labeller works on the loss); it used to start 440 steps earlier. The step depends on round-off: flagged,
    and the reruns at 30 and 50 digits diverge elsewhere."""
    result = IteratedMap("uv-eos", values={"k": 2.0005}).run(2000)
    z = np.abs(np.array(result.trajectory["z"]))
    before = np.maximum.accumulate(z)
    after = np.minimum.accumulate(z[::-1])[::-1]
    leaves = next(t for t in range(1, len(z)) if after[t] > before[t - 1])
    assert leaves > 300  # a long bounded transient first
    assert result.regimes[-1].to_dict() == {"name": "divergence", "start": leaves, "end": result.outcome.step - 1}
    assert result.outcome.roundoff_sensitive is True
    low, high = result.outcome.roundoff["step_range"]
    assert low < high and result.outcome.roundoff["window"][1] <= leaves


def test_a_small_wiggle_is_not_sharpening():
    """After the UV catapult (README example) the sharpness moves by 0.6 % over two steps; that was labelled
    progressive sharpening. Trends below 2 % of the threshold are not sharpening; a real rise (synthetic, 20 % to
    80 % of the threshold) still is, a real fall at the start is early sharpness reduction, and a flat series is
    intermediate saturation."""
    from numerics.classify import label_regimes

    uv = IteratedMap(load_model("uv", "sp"), values={"eta": 2.5, "n": 100, "y": 1, "x": 1})
    result = uv.run(2000, init={"f": 0.05, "lam": 1.0})
    sharpness = np.array(result.trajectory["sharpness"])
    assert 0 < abs(sharpness[8] - sharpness[6]) < 0.02 * result.threshold  # the wiggle, measured here
    assert [r.name for r in result.regimes] == ["catapult", "intermediate saturation"]
    steps = np.arange(1000)
    falling = np.concatenate([1.0 - 0.3 * steps[:200] / 200, np.full(800, 0.7)])
    rising = 0.2 + 0.6 * steps / 999
    loss = np.exp(-steps / 100)  # decreasing, no oscillation
    assert [r.name for r in label_regimes(rising, loss, 1.0)] == ["progressive sharpening"]
    assert [r.name for r in label_regimes(falling, loss, 1.0)] == ["early sharpness reduction",
                                                                       "intermediate saturation"]
    assert [r.name for r in label_regimes(np.full(1000, 0.5), loss, 1.0)] == ["intermediate saturation"]
    wiggle = np.full(1000, 0.5)
    wiggle[500:502] *= 1.006
    assert [r.name for r in label_regimes(wiggle, loss, 1.0)] == ["intermediate saturation"]
