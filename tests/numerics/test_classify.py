"""Labels of runs (numerics.classify): outcomes, regimes, the one Lyapunov estimator with its error bar, each
label on a case an independent run decides."""
import numpy as np
import sympy as sp

from analysis import load_model
from numerics import IteratedMap, Outcome


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


def test_the_orbit_kernel_classifies_as_classify_orbits_bit_for_bit():
    """An orbit diagram classifies every lane inside the orbit kernel's pass (CompiledModel.classified_orbits),
    with the classifier's own lane functions: every array of its result equals classify_orbits' on the same
    states exactly (periods, exponents and errors bit for bit, the same reasons), compiled and interpreted, in the
    general kernel and the one specialised to the varied parameter. The k grid of uv-eos covers every outcome
    (converged below 1, periodic, chaotic, undetermined near the windows, diverged above about 2.1), and a tail
    shorter than TAIL covers 'too short'."""
    from numerics.classify import OUTCOMES, TAIL, classify_orbits

    cubic = IteratedMap("uv-eos", values={"k": 1.2})
    compiled = cubic.compiled
    index = compiled.parameter_names.index("k")
    for kernels, lanes, steps, kept in ((compiled.kernels, 1200, 600, TAIL), (compiled.python_kernels, 150, 250, TAIL),
                                        (compiled.python_kernels, 150, 150, 100)):
        grid = np.linspace(0.5, 2.2, lanes)
        params = np.tile(cubic._params, (grid.size, 1))
        params[:, index] = grid
        starts = np.tile(cubic.initial_state(), (grid.size, 1))
        states = kernels.generated_orbits(starts, params, steps, kept)

        def stretch(orbits, lane_params, batch):  # the same kernel module's stretch
            return kernels.generated_stretch(np.ascontiguousarray(orbits), lane_params, batch,
                                             compiled.benettin_frame(1))

        expected = classify_orbits(states, ~np.isfinite(states).all(axis=(1, 2)), stretch, params)
        if kept == TAIL and kernels is compiled.kernels:
            assert set(OUTCOMES[c] for c in expected["code"]) == set(OUTCOMES)
        for along in (None, index):
            lane_params = params if along is None else (grid, cubic._params)
            orbits, classified = compiled.classified_orbits(starts, lane_params, steps, 10, kept, kernels, along)
            assert np.array_equal(orbits, states[:, -10:], equal_nan=True)
            assert classified.keys() == expected.keys()
            for key, value in expected.items():
                if isinstance(value, np.ndarray):
                    assert np.array_equal(classified[key], value, equal_nan=True), (key, along, steps)
                else:
                    assert classified[key] == value, (key, along, steps)
