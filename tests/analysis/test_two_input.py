"""two-input (Liu et al. 2025): progressive sharpening, then self-stabilisation at about 2/eta."""
import numpy as np
import pytest
import sympy as sp

from analysis import load_model
from analysis import two_input as ti
from numerics import IteratedMap
from numerics.compile import compile_model


def numpy_hessian(a, w1, w2, y, s):
    """Hessian of L = (a w1 - y)^2/2 + s^2 a^2 w2^2/2, written out by hand."""
    r = a * w1 - y
    return np.array([[w1 ** 2 + s ** 2 * w2 ** 2, r + a * w1, 2 * s ** 2 * a * w2],
                     [r + a * w1, a ** 2, 0.0],
                     [2 * s ** 2 * a * w2, 0.0, s ** 2 * a ** 2]])


def numpy_gd(a, w1, w2, y, s, eta, steps):
    for _ in range(steps):
        r = a * w1 - y
        a, w1, w2 = a - eta * (r * w1 + s ** 2 * a * w2 ** 2), w1 - eta * r * a, w2 - eta * s ** 2 * a ** 2 * w2
    return a, w1, w2


def test_sharpness_is_the_top_eigenvalue_of_the_derived_hessian():
    """No closed form (irreducible cubic): the compiled top eigenvalue equals eigvalsh of the hand-written
    Hessian at random points (rtol 1e-12: both are backward-stable eigvalsh of the same matrix)."""
    model = load_model("two-input")
    assert model.sharpness.expression is None
    compiled = compile_model(model)
    assert compiled.parameter_names == ["eta", "y", "s"]
    rng = np.random.default_rng(8)
    points = rng.normal(scale=2, size=(40, 3))
    got = compiled.sharpness_numpy(*points.T, 0.1, 1.3, 0.7)
    expected = [np.linalg.eigvalsh(numpy_hessian(*p, 1.3, 0.7))[-1] for p in points]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_progressive_sharpening_then_self_stabilisation():
    """Defaults (s = 1/20): the sharpness rises from below 2/eta (progressive sharpening) to 2/eta, and GD
    converges just below it (within 2 %). The compiled run equals an independent numpy GD to 1e-9 through
    the progressive-sharpening phase (1,000 steps); past the edge of stability the catapults amplify the two
    codes' different roundings (positive finite-time Lyapunov exponent), so there only the properties are
    compared."""
    two_input = IteratedMap("two-input", values={"eta": "0.5"})
    assert two_input.compiled.state_names == ["a", "w1", "w2"]
    result = two_input.run(40_000, every=10)
    names = [r.name for r in result.regimes]
    assert "progressive sharpening" in names and "edge of stability" in names
    assert names.index("progressive sharpening") < names.index("edge of stability")
    sharp = np.array(result.trajectory["sharpness"])
    assert sharp[0] < 0.5 * result.threshold and sharp.max() > 0.99 * result.threshold
    assert 0 < result.gap < 0.02 * result.threshold
    early = two_input.run(1000)
    a, w1, w2 = numpy_gd(*two_input.initial_state(), 1.0, 0.05, 0.5, 1000)
    independent = np.linalg.eigvalsh(numpy_hessian(a, w1, w2, 1.0, 0.05))[-1]
    # rel 1e-9: 1,000 float64 steps before the edge of stability (no chaotic amplification), plus eigvalsh.
    assert early.final["sharpness"] == pytest.approx(independent, rel=1e-9)
    assert early.final["sharpness"] < 0.99 * early.threshold  # still sharpening at step 1000


def test_minimum_line_flip():
    """On the minima w1 = y/a, w2 = 0 the relevant transverse eigenvalue is 1 - eta (a^2 + y^2/a^2)."""
    (line,) = load_model("two-input").minima.sets
    mus = line.transverse_eigenvalues
    expected = 1 - ti.eta * (ti.a ** 2 + ti.y ** 2 / ti.a ** 2)
    assert any(sp.simplify(mu - expected) == 0 for mu in mus)
    # Sharpness on the minima, where the cubic factors: max(a^2 + y^2/a^2, s^2 a^2).
    assert line.sharpness == sp.Max((ti.a ** 4 + ti.y ** 2) / ti.a ** 2, ti.a ** 2 * ti.s ** 2)


def test_a_chaotic_transient_makes_the_end_depend_on_round_off():
    """eta = 0.5, 12,000 steps: the catapults amplify what round-off seeds (the transverse oscillation had decayed
    below 1e-16 before the sharpness crossed 2/eta), so the final sharpness depends on the arithmetic. Independent:
    the same GD in mpmath at 40 digits, from a map lambdified here, ends more than 0.005 away from float64 (issue
    19 measured 3.99, 3.90, 3.80, 3.72 at 30, 50, 80, 120 digits against 3.968). The run says so: the flag, the
    transient's window and positive finite-time exponent, and its own reruns' spread. A plainly converging run
    (eta = 0.1: it sharpens but never reaches 2/eta = 20) carries no flag."""
    import mpmath

    two_input = IteratedMap("two-input", values={"eta": "0.5"})
    result = two_input.run(12_000)
    compiled = two_input.compiled
    step = sp.lambdify(compiled.state_symbols + compiled.parameter_symbols, compiled.map_exprs, "mpmath")
    with mpmath.workdps(40):
        state = [mpmath.mpf(float(v)) for v in two_input.initial_state()]
        params = [mpmath.mpf(1) / 2, mpmath.mpf(1), mpmath.mpf(1) / 20]
        for _ in range(12_000):
            state = step(*state, *params)
        precise = float(compiled.sharpness_numpy(*[float(v) for v in state], 0.5, 1.0, 0.05))
    assert abs(precise - result.final["sharpness"]) > 5e-3
    roundoff = result.outcome.roundoff
    assert result.outcome.roundoff_sensitive is True
    assert roundoff["finite_time_lyapunov"] > 0 and roundoff["log10_amplification"] >= 8
    assert 1300 < roundoff["window"][0] < roundoff["window"][1] < 6000  # between sharpening and the last catapult
    assert roundoff["final_spread"]["sharpness"] > 5e-3
    calm = IteratedMap("two-input", values={"eta": "0.1"}).run(2000)
    assert calm.outcome.roundoff is None and calm.outcome.roundoff_sensitive is None
