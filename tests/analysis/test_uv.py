"""The UV model's derived function-space dynamics, checked by independent routes.

Routes: symbolic identities with explicit components (n = 1, 2, 3); float64 parameter-space GD at widths 1 to
1000 (tests/uv_reference.py); numpy ``eigvalsh`` of the explicit Hessian; mpmath at 50 digits; hypothesis.
"""
import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from analysis import uv as uvmod
from analysis.uv_eos import K, NORMAL_FORM, Z
from tests import uv_reference as ref

PARAMETERIZATIONS = ("sp", "mup")
f, lam, eta, n, x, y = uvmod.f, uvmod.lam, uvmod.eta, uvmod.n, uvmod.x, uvmod.y


def compiled_map(derivation):
    mapping = derivation.result("function_map").images
    return sp.lambdify((f, lam, eta, n, x, y), [mapping[f], mapping[lam]], "numpy")


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("width", [1, 2, 3])
def test_map_equals_explicit_components(uv, parameterization, width):
    """Closure, independently: GD on explicit component symbols u_1..u_n, v_1..v_n gives exactly the derived map."""
    u = sp.Matrix(sp.symbols(f"u1:{width + 1}", real=True))
    v = sp.Matrix(sp.symbols(f"v1:{width + 1}", real=True))
    scale = {"sp": 1 / sp.sqrt(width), "mup": sp.Integer(1) / width}[parameterization]
    lr = {"sp": 1, "mup": width}[parameterization]
    output = x * u.dot(v) * scale
    loss = (output - y) ** 2 / 2
    params = list(u) + list(v)
    new = {p: p - eta * lr * sp.diff(loss, p) for p in params}
    kernel = lr * sum(sp.diff(output, p) ** 2 for p in params)
    mapping = uv[parameterization].result("function_map").images
    at = {f: output, lam: kernel, n: width}
    assert sp.expand(output.xreplace(new) - mapping[f].subs(at)) == 0
    assert sp.expand(kernel.xreplace(new) - mapping[lam].subs(at)) == 0


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_ntk_definition_is_lr_scaled(uv, parameterization):
    """lam = x^2 (|u|^2 + |v|^2) / n in both parameterizations (the issue's convention)."""
    definitions = uv[parameterization].result("state_definitions").definitions
    spec = uv[parameterization].spec
    expected = x ** 2 * (spec.gram_symbol(0, 0) + spec.gram_symbol(1, 1)) / n
    assert sp.simplify(definitions[lam] - expected) == 0


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("width", [1, 2, 7, 100, 1000])
def test_map_against_parameter_space_gd(uv, parameterization, width):
    """Float64 GD on u, v equals the iterated function-space map over 100 steps.

    The step is chosen in the converging regime (eta lam0 < 2); the two computations round differently, so they
    agree to round-off accumulated over 100 contracting steps: 1e-11 relative is ~100x machine epsilon
    amplified by the O(1) condition of each step.
    """
    rng = np.random.default_rng(width)
    u, v = rng.normal(size=width), rng.normal(size=width)
    x_value, y_value = 1.3, 0.7
    lam0 = ref.ntk(u, v, x_value, parameterization)
    eta_value = 1.2 / lam0
    step = compiled_map(uv[parameterization])
    state = (ref.output(u, v, x_value, parameterization), lam0)
    for _ in range(100):
        u, v = ref.gd_step(u, v, x_value, y_value, eta_value, parameterization)
        state = step(*state, eta_value, width, x_value, y_value)
        expected = (ref.output(u, v, x_value, parameterization), ref.ntk(u, v, x_value, parameterization))
        np.testing.assert_allclose(state, expected, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
@pytest.mark.parametrize("width", [1, 2, 3, 5, 16, 64])
def test_sharpness_against_eigvalsh(uv, parameterization, width):
    """Closed-form sharpness = top eigenvalue (largest algebraic) of the explicit 2n x 2n Hessian, at random
    points including large residuals where the Hessian has a large negative eigenvalue. rtol 1e-10: eigvalsh is
    backward stable, so its error is a few eps times the Hessian's norm."""
    derivation = uv[parameterization]
    sharp = sp.lambdify((f, lam, n, x, y), derivation.result("sharpness").expression, "numpy")
    rng = np.random.default_rng(100 + width)
    for _ in range(20):
        u, v = rng.normal(size=width) * 2, rng.normal(size=width) * 2
        x_value, y_value = rng.uniform(0.3, 2), rng.uniform(-5, 5)
        hessian = ref.hessian(u, v, x_value, y_value, parameterization)
        top = np.linalg.eigvalsh(hessian)[-1]
        closed = sharp(ref.output(u, v, x_value, parameterization), ref.ntk(u, v, x_value, parameterization),
                       width, x_value, y_value)
        assert closed == pytest.approx(top, rel=1e-10, abs=1e-12 * np.abs(hessian).max())


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_hessian_spectrum_multiplicities_and_values(uv, parameterization):
    """The full spectrum (with multiplicities n - 2 on the complement) equals eigvalsh's at n = 6."""
    width = 6
    branches = uv[parameterization].result("hessian_spectrum").eigenvalues
    rng = np.random.default_rng(7)
    u, v = rng.normal(size=width), rng.normal(size=width)
    x_value, y_value = 0.9, 2.5
    point = {f: ref.output(u, v, x_value, parameterization), lam: ref.ntk(u, v, x_value, parameterization),
             n: width, x: x_value, y: y_value}
    closed = []
    for expr, multiplicity in branches:
        closed += [float(expr.subs(point))] * int(sp.sympify(multiplicity).subs(n, width))
    expected = np.linalg.eigvalsh(ref.hessian(u, v, x_value, y_value, parameterization))
    np.testing.assert_allclose(sorted(closed), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_fixed_points_are_fixed_symbolically(uv, parameterization):
    derivation = uv[parameterization]
    mapping = derivation.result("function_map").images
    for point in derivation.result("fixed_points").solutions:
        at = {s: c for s, c in point.coordinates.items() if c is not None}
        for s, image in mapping.items():
            assert sp.simplify(image.subs(at) - s.subs(at)) == 0, point.label


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_fixed_points_and_eigenvalues_mpmath_50_digits(uv, parameterization):
    """Independent route at 50 digits: mpmath.findroot on F(s) - s from a perturbed start, and eigenvalues of the
    Jacobian by mpmath numerical differentiation (mpmath.diff, mpmath.eig). Agreement to 1e-30 (numerical
    differentiation at 50-digit working precision keeps well over 30 digits)."""
    derivation = uv[parameterization]
    mapping = derivation.result("function_map").images
    values = {eta: sp.Rational(3, 7), n: 5, x: sp.Rational(6, 5), y: sp.Rational(-2, 3)}
    step = sp.lambdify((f, lam), [mapping[f].subs(values), mapping[lam].subs(values)], "mpmath")
    stability = {e.label: e for e in derivation.result("stability").points}
    with mpmath.workdps(50):
        for point in derivation.result("fixed_points").solutions:
            if point.free:
                continue
            closed = [mpmath.mpf(sp.N(point.coordinates[s].subs(values), 60)) for s in (f, lam)]
            start = [c + mpmath.mpf("1e-3") for c in closed]
            root = mpmath.findroot(lambda a, b: [step(a, b)[0] - a, step(a, b)[1] - b], start)
            assert mpmath.norm(root - mpmath.matrix(closed)) < mpmath.mpf("1e-40")
            jac = mpmath.matrix(2, 2)
            for i in range(2):
                for j in range(2):
                    jac[i, j] = mpmath.diff(lambda a, b: step(a, b)[i], tuple(closed), tuple(int(k == j) for k in range(2)))
            numeric = sorted(mpmath.eig(jac)[0], key=lambda z: (mpmath.re(z), mpmath.im(z)))
            at = {**values, f: point.coordinates[f], lam: point.coordinates[lam]}
            derived = sorted((mpmath.mpc(sp.N(mu.subs(at), 60)) for mu in stability[point.label].eigenvalues),
                             key=lambda z: (mpmath.re(z), mpmath.im(z)))
            for a, b in zip(numeric, derived):
                assert abs(a - b) < mpmath.mpf("1e-30"), point.label


def test_stability_classification_of_the_fixed_line(uv):
    """On the line f = y the eigenvalues are 1 and 1 - eta lam: transversally attracting iff 0 < eta lam < 2."""
    for parameterization in PARAMETERIZATIONS:
        (line,) = [e for e in uv[parameterization].result("stability").points if e.kind == "line"]
        assert sorted(line.eigenvalues, key=str) == sorted([sp.Integer(1), 1 - eta * lam], key=str)
        assert [b.value for b in line.boundaries if b.kind == "flip"] == [2 / lam]


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 40), eta_value=st.floats(0.01, 3), x_value=st.floats(0.2, 3), y_value=st.floats(-3, 3),
       seed=st.integers(0, 2 ** 31 - 1), parameterization=st.sampled_from(PARAMETERIZATIONS))
def test_one_step_closure_property(uv, width, eta_value, x_value, y_value, seed, parameterization):
    """For any parameters and any u, v: one GD step in parameter space lands where the map says (rtol 1e-9:
    a single step of O(1)-conditioned arithmetic, with magnitudes up to ~1e3)."""
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=width), rng.normal(size=width)
    state = (ref.output(u, v, x_value, parameterization), ref.ntk(u, v, x_value, parameterization))
    new_u, new_v = ref.gd_step(u, v, x_value, y_value, eta_value, parameterization)
    expected = (ref.output(new_u, new_v, x_value, parameterization), ref.ntk(new_u, new_v, x_value, parameterization))
    got = compiled_map(uv[parameterization])(*state, eta_value, width, x_value, y_value)
    scale = 1 + max(abs(e) for e in expected)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * scale)


@settings(max_examples=40, deadline=None)
@given(eta_value=st.floats(0.05, 2), x_value=st.floats(0.2, 3), y_value=st.floats(-3, 3).filter(lambda v: abs(v) > 1e-3),
       width=st.integers(1, 100), parameterization=st.sampled_from(PARAMETERIZATIONS))
def test_fixed_points_property(uv, eta_value, x_value, y_value, width, parameterization):
    """Every isolated fixed point is a fixed point of the compiled float map (relative 1e-9)."""
    step = compiled_map(uv[parameterization])
    values = {eta: eta_value, n: width, x: x_value, y: y_value}
    for point in uv[parameterization].result("fixed_points").solutions:
        if point.free:
            continue
        state = [float(point.coordinates[s].subs(values)) for s in (f, lam)]
        np.testing.assert_allclose(step(*state, eta_value, width, x_value, y_value), state,
                                   rtol=1e-9, atol=1e-9 * (1 + max(map(abs, state))))


# ------------------------------------------------------------------------------------------------------------
# Edge of stability


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_eos_k_and_flip(uv, parameterization):
    """k = eta kappa y with kappa = x/sqrt(n) (SP) or x (muP); the first flip k = 1 is eta lam* = 2 at f = y."""
    (aligned, _) = uv[parameterization].result("eos_map").reductions
    kappa = {"sp": x / sp.sqrt(n), "mup": x}[parameterization]
    assert sp.simplify(aligned.k - eta * kappa * y) == 0
    assert sp.simplify(aligned.z_squared - f / y) == 0
    # At the fixed line point on the manifold, lam* = 2 kappa y, so k = eta lam*/2.
    assert sp.simplify(aligned.k.subs(eta, 2 / (2 * kappa * y)) - 1) == 0


def test_registered_uv_eos_is_the_derived_normal_form(uv):
    from analysis import Derivation

    mapping = Derivation("uv-eos").result("function_map").images
    assert sp.expand(mapping[Z] - NORMAL_FORM) == 0
    assert NORMAL_FORM == (1 + K) * Z - K * Z ** 3


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_full_map_equals_reduced_map_on_and_near_manifold(uv, parameterization):
    """On lam = 2 kappa f the full 2-D map and the cubic z-map agree to round-off over 200 steps, also in the
    chaotic regime (k = 1.9 has Lyapunov exponent ~0.88, so round-off grows ~e^0.88 per step and the 1e-9 bound
    is checked for 12 steps there: 1e-16 e^10.6 ~ 4e-12); at distance eps
    off the manifold the one-step discrepancy in f is O(eps) (we claim first order and measure the slope)."""
    derivation = uv[parameterization]
    step = compiled_map(derivation)
    (aligned, _) = derivation.result("eos_map").reductions
    width, x_value, y_value = 9, 1.1, 0.8
    kappa = x_value / np.sqrt(width) if parameterization == "sp" else x_value
    for k_value, steps in ((0.8, 200), (1.25, 200), (1.9, 12)):
        eta_value = k_value / (kappa * y_value)
        z = 0.7
        state = (y_value * z ** 2, 2 * kappa * y_value * z ** 2)
        for _ in range(steps):
            state = step(*state, eta_value, width, x_value, y_value)
            z = (1 + k_value) * z - k_value * z ** 3
            assert state[0] == pytest.approx(y_value * z ** 2, rel=1e-9, abs=1e-12)
            assert state[1] == pytest.approx(2 * kappa * state[0], rel=1e-9, abs=1e-12)
    # Off the manifold: discrepancy of f' from the reduced prediction scales linearly in eps.
    eta_value, z = 1.1 / (kappa * y_value), 0.9
    f_on = y_value * z ** 2
    reduced = y_value * ((1 + 1.1) * z - 1.1 * z ** 3) ** 2
    errors = []
    for eps in (1e-3, 1e-4, 1e-5):
        f_new, _ = step(f_on, 2 * kappa * f_on + eps, eta_value, width, x_value, y_value)
        errors.append(abs(f_new - reduced))
    slopes = np.diff(np.log10(errors)) / np.diff(np.log10([1e-3, 1e-4, 1e-5]))
    np.testing.assert_allclose(slopes, 1.0, atol=0.02)


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_transverse_multiplier(uv, parameterization):
    """R' = R (1 + eta kappa (f - y))^2 on u = v: the distance to the manifold in the (f, lam) plane."""
    derivation = uv[parameterization]
    mapping = derivation.result("function_map").images
    (aligned, _) = derivation.result("eos_manifold").manifolds
    relation, multiplier = aligned.relation, aligned.transverse_multiplier
    assert sp.simplify(relation.subs(mapping, simultaneous=True) - multiplier * relation) == 0


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_uv_self_stabilisation_lowers_the_ntk(uv, parameterization):
    """On the minima f = y the sharpness is lam, and an oscillation across them lowers lam wherever it is
    realizable (lam >= 2 kappa |y|) and below the period-2 escape eta lam < 4: the drift is <= 0 there."""
    (entry,) = uv[parameterization].result("minima").sets
    assert entry.sharpness == lam
    kappa = {"sp": x / sp.sqrt(n), "mup": x}[parameterization]
    drift = sp.lambdify((lam, eta, n, x, y), entry.sharpness_drift)
    kappa_value = sp.lambdify((n, x), kappa)
    rng = np.random.default_rng(2)
    for _ in range(200):
        n_value, x_value, y_value, eta_value = rng.integers(1, 50), rng.uniform(0.2, 2), rng.uniform(-2, 2), rng.uniform(0.1, 2)
        low = 2 * kappa_value(n_value, x_value) * abs(y_value)
        if low >= 4 / eta_value:
            continue
        lam_value = rng.uniform(low, 4 / eta_value)
        assert drift(lam_value, eta_value, n_value, x_value, y_value) <= 1e-12
