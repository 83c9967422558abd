"""xy-quartic (Zhu et al., ICLR 2023) through the same pipeline, checked against an independent numpy GD."""
import numpy as np
import pytest
import sympy as sp

from analysis import load_model
from analysis import xy_quartic as xq
from numerics import IteratedMap


def numpy_gd(x, y, eta, steps):
    """GD on L = (x^2 y^2 - 1)^2 / 4 written from the definition: dL/dx = x y^2 (x^2 y^2 - 1)."""
    for _ in range(steps):
        residual = x * x * y * y - 1
        x, y = x - eta * x * y * y * residual, y - eta * x * x * y * residual
    return x, y


def numpy_hessian(x, y):
    r = x * x * y * y - 1
    return np.array([[y ** 2 * r + 2 * x ** 2 * y ** 4, 2 * x * y * r + 2 * x ** 3 * y ** 3],
                     [2 * x * y * r + 2 * x ** 3 * y ** 3, x ** 2 * r + 2 * x ** 4 * y ** 2]])


def test_sharpness_against_eigvalsh():
    """Closed form vs the top eigenvalue of the hand-written Hessian at random points (rtol 1e-10)."""
    compiled = IteratedMap("xy-quartic", values={"eta": 0.1}).compiled
    assert compiled.state_names == ["x", "y"] and compiled.parameter_names == ["eta"]
    rng = np.random.default_rng(5)
    for x, y in rng.normal(scale=1.5, size=(50, 2)):
        # rel 1e-10 (abs 1e-12 near a zero eigenvalue): the closed form's square root vs eigvalsh, both a few
        # roundings of O(1)-conditioned arithmetic.
        assert compiled.sharpness_numpy(x, y, 0.1) == pytest.approx(np.linalg.eigvalsh(numpy_hessian(x, y))[-1],
                                                                    rel=1e-10, abs=1e-12)


def test_final_sharpness_just_below_two_over_eta():
    """From (4, 0.3) the compiled run equals numpy GD (final sharpness to 1e-9), ends just below 2/eta (relative
    gap under 1 %), and the relative gap shrinks as eta decreases (Zhu et al.)."""
    x0, y0 = 4.0, 0.3
    relative_gaps = []
    for eta in (0.08, 0.1, 0.12):
        result = IteratedMap("xy-quartic", values={"eta": eta}).run(20_000, init={"x": x0, "y": y0})
        x, y = numpy_gd(x0, y0, eta, 20_000)
        independent = np.linalg.eigvalsh(numpy_hessian(x, y))[-1]
        # rel 1e-9: both converge to the same minimum in float64; the residue is round-off and eigvalsh.
        assert result.final["sharpness"] == pytest.approx(independent, rel=1e-9)
        assert result.outcome.name == "converged"
        relative_gaps.append(1 - result.final["sharpness"] * eta / 2)
    assert all(0 < g < 0.01 for g in relative_gaps)
    assert relative_gaps == sorted(relative_gaps)


def test_minimum_manifold_flip_is_sharpness_two_over_eta():
    """On the minima x = 1/y the transverse eigenvalue is 1 - eta (x^2 + y^2): flip at eta = y^2 / (y^4 + 1)."""
    (flip,) = [b for e in load_model("xy-quartic").stability.points
               for b in e.boundaries if b.kind == "flip" and e.label == "III"]
    assert sp.simplify(flip.value - 2 / (2 * (xq.y ** 2 + 1 / xq.y ** 2))) == 0


def test_minimum_manifold_sharpness_and_drift():
    """On x = 1/y: S = 2 (x^2 + y^2) = 2 (y^4 + 1)/y^2, and the sharpness drift per squared amplitude is <= 0,
    vanishing only at the flattest minimum y = +-1."""
    sets = load_model("xy-quartic").minima.sets
    (on_branch,) = [s for s in sets if sp.simplify(s.coordinates[xq.x] - 1 / xq.y) == 0]
    assert sp.simplify(on_branch.sharpness - 2 * (xq.y ** 2 + 1 / xq.y ** 2)) == 0
    drift = sp.lambdify((xq.y, xq.eta), on_branch.sharpness_drift)
    values = [drift(y, 0.1) for y in np.linspace(0.2, 3, 57)]
    # 1e-12: the drift is exactly 0 at y = +-1; float evaluation of the lambdified expression leaves round-off.
    assert max(values) <= 1e-12 and min(values) < -0.1


def test_drift_is_invariant_under_the_loss_symmetry():
    """L(x, y) = L(y, x): the swap maps the minimum (1/y, y) to (y, 1/y) = (1/y', y') with y' = 1/y, so the
    sharpness drift per squared (Euclidean) amplitude takes the same value at y and 1/y, exactly."""
    entry = [s for s in load_model("xy-quartic").minima.sets
             if sp.simplify(s.coordinates[xq.x] - 1 / xq.y) == 0][0]
    assert sp.simplify(entry.sharpness_drift - entry.sharpness_drift.subs(xq.y, 1 / xq.y)) == 0
    assert sp.simplify((entry.transverse_vector.T * entry.transverse_vector)[0] - 1) == 0
