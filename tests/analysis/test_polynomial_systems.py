"""Every real fixed point of user polynomial losses, no complex ones, complex multipliers, and an honest search.

Each reference is computed here by another route than :mod:`analysis.polynomial_systems` (which uses Groebner
bases and the shape lemma): substitution by hand to one univariate polynomial, its real roots counted by a Sturm
sequence (``Poly.count_roots``) and evaluated by ``mpmath.polyroots`` at 50 digits; ``sympy.solve`` on a small
system; the momentum multipliers from the quadratic of each optimizer or a finite-difference Jacobian of the map
written out in numpy; ``mpmath.findroot`` for a transcendental equation.
"""
from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from analysis import load_model
from numerics.cli import main

a, b, c, x = sp.symbols("a b c x", real=True)
# Coordinates are printed from 50-digit values as floats: 1e-12 relative leaves float64 rounding (1e-16) far below
# and any wrong root (the real roots here are at least 0.1 apart) far above.
COORDINATE_TOLERANCE = 1e-12


def call(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def fixed_points_json(capsys, loss, *settings):
    code, out, err = call(capsys, "fixed-points", "product", "--loss", loss, *settings, "--json")
    assert code == 0, err
    return json.loads(out)


def univariate_reference(polynomial, back_substitute):
    """``(count, points)``: the Sturm count of the real roots of ``polynomial`` (in ``x``) and the points
    ``back_substitute(root)`` at 50 digits (mpmath.polyroots; real = imaginary part below 1e-40)."""
    poly = sp.Poly(polynomial, x)
    count = poly.count_roots()  # Sturm sequence on the whole real line
    with mpmath.workdps(50):
        roots = mpmath.polyroots([mpmath.mpf(sp.Rational(k).p) / sp.Rational(k).q for k in poly.all_coeffs()],
                                 maxsteps=400, extraprec=400)
        real = sorted(float(r.real) for r in roots if abs(mpmath.im(r)) < mpmath.mpf(10) ** -40)
    return count, [back_substitute(r) for r in real]


def assert_same_points(table_points, reference, names):
    got = sorted(tuple(p["coordinates"][n] for n in names) for p in table_points)
    assert len(got) == len(reference), (got, reference)
    for point, expected in zip(got, sorted(reference)):
        assert point == pytest.approx(expected, rel=COORDINATE_TOLERANCE, abs=COORDINATE_TOLERANCE)


def test_quartic_prints_its_three_real_fixed_points(capsys):
    """``a^4/4 + b^4/4 - a b + a/5`` (sympy.solve finds nothing, and `fixed-points` used to print nothing): by hand
    b = a^3 + 1/5 and (a^3 + 1/5)^3 = a, degree 9 with 3 real roots (Sturm), so 3 fixed points and 6 non-real."""
    loss = "a^4/4 + b^4/4 - a*b + a/5"
    count, reference = univariate_reference((x ** 3 + sp.Rational(1, 5)) ** 3 - x,
                                            lambda r: (r, r ** 3 + 0.2))
    assert count == 3
    table = fixed_points_json(capsys, loss, "--set", "eta=0.1")
    assert table["complete"] is True and table["non_real"] == 9 - count and table["reason"] is None
    assert_same_points(table["fixed_points"], reference, ("a", "b"))
    assert all("CRootOf" in p["expression"] and p["closed_form"] is False for p in table["fixed_points"])


def test_root_not_expressible_by_radicals(capsys):
    """``a^6/6 - 2a^2 + 2a + (b - a^2)^2/2``: b = a^2 and a^5 - 4a + 2 = 0, irreducible (Eisenstein at 2) of prime
    degree with exactly 3 real roots, so its Galois group is S5 and no root is a radical: the points are CRootOf."""
    quintic = x ** 5 - 4 * x + 2
    assert sp.Poly(quintic, x).is_irreducible and sp.roots(quintic, x) == {}  # no radical form found either
    count, reference = univariate_reference(quintic, lambda r: (r, r ** 2))
    assert count == 3
    table = fixed_points_json(capsys, "a^6/6 - 2*a^2 + 2*a + (b - a^2)^2/2", "--set", "eta=0.1")
    assert table["complete"] is True and table["non_real"] == 5 - count
    assert_same_points(table["fixed_points"], reference, ("a", "b"))
    assert all("CRootOf(x**5 - 4*x + 2" in p["expression"] for p in table["fixed_points"])


def test_three_variable_quartic(capsys):
    """``a^4/4 + b^4/4 + c^4/4 - a b - b c + c/3``: by hand b = a^3, c = b^3 - a, c^3 - b + 1/3 = 0, a univariate
    polynomial of degree 27 in a; every real root is one fixed point."""
    eliminant = sp.expand((x ** 9 - x) ** 3 - x ** 3 + sp.Rational(1, 3))
    count, reference = univariate_reference(eliminant, lambda r: (r, r ** 3, r ** 9 - r))
    table = fixed_points_json(capsys, "a^4/4 + b^4/4 + c^4/4 - a*b - b*c + c/3", "--set", "eta=0.1")
    assert count == len(table["fixed_points"]) and table["non_real"] == 27 - count
    assert_same_points(table["fixed_points"], reference, ("a", "b", "c"))


LOSS = "(a*b - y)^2/2 + (a - 2*b)^2/20"


def test_complex_solutions_are_not_fixed_points(capsys):
    """sympy.solve on the gradient gives 5 solutions, 2 of them with imaginary coordinates at y = 1: the table has
    the 3 real ones (each with its closed form), says it is complete and that it left 2 out, and the text prints."""
    p, q = sp.symbols("p q")  # no assumptions: solve keeps the complex solutions
    loss = (p * q - 1) ** 2 / 2 + (p - 2 * q) ** 2 / 20
    solutions = sp.solve([sp.diff(loss, p), sp.diff(loss, q)], [p, q], dict=True)
    real = [(float(s[p]), float(s[q])) for s in solutions if all(sp.im(v) == 0 for v in s.values())]
    assert len(solutions) == 5 and len(real) == 3
    table = fixed_points_json(capsys, LOSS, "--set", "y=1", "--set", "eta=0.6")
    assert table["complete"] is True and table["non_real"] == 2
    assert_same_points(table["fixed_points"], real, ("a", "b"))
    assert all(isinstance(v, float) for p in table["fixed_points"] for v in p["coordinates"].values())
    code, out, _ = call(capsys, "fixed-points", "product", "--loss", LOSS, "--set", "y=1", "--set", "eta=0.6")
    assert code == 0 and "2 solution(s) with nonzero imaginary part left out" in out and " IV:" not in out


def test_no_real_fixed_point_says_why(capsys):
    """a^2 + 1 = 0 has no real root: an empty list, complete, with the reason."""
    table = fixed_points_json(capsys, "a^3/3 + a + b^2/2", "--set", "eta=0.1")
    assert table["fixed_points"] == [] and table["complete"] is True and table["non_real"] == 2
    assert "nonzero imaginary part" in table["reason"]


def heavy_ball_multipliers(hessian, eta, beta):
    r"""Roots of :math:`\mu^2 - (1 + \beta - \eta h)\mu + \beta` for each Hessian eigenvalue h (PyTorch's heavy-ball
    on a quadratic)."""
    out = []
    for h in np.linalg.eigvalsh(hessian):
        out += list(np.roots([1.0, -(1 + beta - eta * h), beta]))
    return out


def nesterov_jacobian(gradient, point, eta, beta, step=1e-6):
    """Central-difference Jacobian of PyTorch's Nesterov map (v' = beta v + g, theta' = theta - eta (g + beta v'))
    at (theta, v) = (point, 0)."""
    def step_map(state):
        theta, v = state[:2], state[2:]
        g = gradient(theta)
        v_new = beta * v + g
        return np.concatenate([theta - eta * (g + beta * v_new), v_new])

    base = np.concatenate([point, np.zeros(2)])
    columns = []
    for i in range(4):
        e = np.zeros(4)
        e[i] = step
        columns.append((step_map(base + e) - step_map(base - e)) / (2 * step))
    return np.array(columns).T


def gradient_of_loss(theta):
    p, q = theta
    return np.array([(p * q - 1) * q + (p - 2 * q) / 10, (p * q - 1) * p - 2 * (p - 2 * q) / 10])


def hessian_of_loss(p, q):
    return np.array([[q * q + 0.1, 2 * p * q - 1 - 0.2], [2 * p * q - 1 - 0.2, p * p + 0.4]])


@pytest.mark.parametrize("optimizer,beta", [("heavy-ball", 0.2), ("nesterov", 0.7)])
def test_momentum_complex_multipliers(capsys, optimizer, beta):
    """Complex multipliers on a two-parameter loss, in the API, the JSON and the text: moduli and stability against
    the optimizer's own quadratic (heavy-ball) or a finite-difference Jacobian of the map (Nesterov; central
    differences at h = 1e-6 are accurate to ~1e-10, hence 1e-7)."""
    eta = 0.6
    table = load_model("product", loss=LOSS, optimizer=optimizer).fixed_points_at({"y": 1, "eta": eta, "beta": beta})
    assert table.complete and len(table) == 3
    for point in table:
        p, q = point.coordinates["a"], point.coordinates["b"]
        if optimizer == "heavy-ball":
            expected = heavy_ball_multipliers(hessian_of_loss(p, q), eta, beta)
        else:
            expected = np.linalg.eigvals(nesterov_jacobian(gradient_of_loss, np.array([p, q]), eta, beta))
        moduli = sorted(e["modulus"] if isinstance(e, dict) else abs(e) for e in point.eigenvalues)
        assert moduli == pytest.approx(sorted(abs(np.asarray(expected))), abs=1e-7)
        outside = sum(m > 1 for m in moduli)
        assert point.stability == ("attracting" if outside == 0 else "repelling" if outside == 4 else "saddle")
        assert point.focus == any(abs(complex(e).imag) > 1e-9 for e in expected)
        for e in point.eigenvalues:
            if isinstance(e, dict):
                assert e["modulus"] == pytest.approx(math.hypot(e["re"], e["im"]), rel=1e-12)
                assert e["argument"] == pytest.approx(math.atan2(e["im"], e["re"]), abs=1e-12)
    assert any(point.focus for point in table)
    settings = ["--set", "y=1", "--set", f"eta={eta}", "--set", f"beta={beta}", "--optimizer", optimizer]
    code, out, _ = call(capsys, "fixed-points", "product", "--loss", LOSS, *settings)
    assert code == 0 and "(focus)" in out and "|mu| [" in out
    payload = fixed_points_json(capsys, LOSS, *settings)
    assert payload == json.loads(json.dumps(table.to_dict()))


def test_non_polynomial_loss_is_a_search_that_says_so(capsys):
    """cos is not polynomial: a numeric search, ``complete: false`` with its method and reason; its points are
    the roots of sin(a) = a/5 (mpmath.findroot at 50 digits; 0 and +-2.5957...) with b = 1."""
    table = fixed_points_json(capsys, "cos(a) + a^2/10 + (b - 1)^2", "--set", "eta=0.1")
    assert table["complete"] is False and table["method"].startswith("numeric search")
    assert "not polynomial" in table["reason"]
    with mpmath.workdps(50):
        root = mpmath.findroot(lambda t: mpmath.sin(t) - t / 5, 2.6)
    assert_same_points(table["fixed_points"], [(-float(root), 1.0), (0.0, 1.0), (float(root), 1.0)], ("a", "b"))
    assert all(p["exact"] is False for p in table["fixed_points"])
    code, out, _ = call(capsys, "fixed-points", "product", "--loss", "cos(a) + a^2/10 + (b - 1)^2", "--set", "eta=0.1")
    assert code == 0 and out.rstrip().splitlines()[-1].startswith("not complete (numeric search): the equations are "
                                                                  "not polynomial")


def test_cascade_does_not_claim_no_flip_without_closed_forms(capsys):
    """The quartic's fixed points have no closed form in eta: cascade cannot solve their flips and says so rather
    than 'no fixed point loses stability'; continuation from one of them finds its flips."""
    code, _, err = call(capsys, "cascade", "product", "--loss", "a^4/4 + b^4/4 - a*b + a/5", "--vary", "eta",
                        "--set", "eta=0.1", "--doublings", "2", "--quiet")
    assert code == 2 and "have no closed form in the parameters" in err and "continuation --start" in err


def test_each_family_of_fixed_points_listed_once():
    """(t1 t2 t3 - y)^2/2: the gradient r (t2 t3, t1 t3, t1 t2) vanishes on the surface r = 0 and on the three
    coordinate axes (two factors zero), so exactly four families, each once (sympy.solve returns one axis twice)."""
    solutions = load_model("product", depth=3).fixed_points.solutions
    families = {tuple(sorted(str(s) for s in entry.free)) for entry in solutions}
    assert len(solutions) == 4 and families == {("theta1",), ("theta2",), ("theta3",), ("theta2", "theta3")}
