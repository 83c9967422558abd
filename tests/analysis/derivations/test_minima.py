"""The self-stabilisation drift of every shipped model, against explicit steps of its compiled map.

The derived coefficient c (``ZeroLossSet.drift``) is the move of the free coordinate per step per squared
*Euclidean* amplitude eps of an oscillation along the unit transverse eigenvector. The check takes that vector, the
multiplier and the neutral left eigenvector from numpy's eig of a finite-difference Jacobian of the compiled map
(not from the derivation), and compares two map steps with c eps^2 (1 + mu^2) at three amplitudes."""
import numpy as np
import pytest
import sympy as sp

from analysis import load_model
from numerics import IteratedMap

CASES = [  # (model, parameterization, parameter values, value of the free coordinate on the set)
    ("uv", "sp", {"eta": 0.5, "n": 4, "y": 1.0, "x": 1.3}, 2.5),
    ("uv", "mup", {"eta": 0.3, "n": 8, "y": -0.7, "x": 0.9}, 4.0),
    ("xy-quartic", None, {"eta": 0.1}, 0.4),
    ("xy-quartic", None, {"eta": 0.05}, 1.7),
]


@pytest.mark.parametrize("name, parameterization, values, sigma", CASES)
def test_drift_against_two_map_steps(name, parameterization, values, sigma):
    model = load_model(name, parameterization) if parameterization else load_model(name)
    iterated = IteratedMap(model, values=values)
    compiled, params = iterated.compiled, iterated._params
    entry = next(s for s in model.minima.sets if s.drift is not None)
    (free,) = entry.free
    at = {free: sigma, **{sym: values[str(sym)] for sym in entry.drift.free_symbols if str(sym) in values}}
    point = np.array([float(sp.sympify(c).subs(at)) if c is not None else sigma
                      for c in entry.coordinates.values()])
    c = float(entry.drift.subs(at))

    def step(state, count=1):
        for _ in range(count):
            state = np.array(compiled.step_scalar(*state, *params))
        return state

    h = 1e-6  # central differences: truncation O(h^2), round-off ~1e-16 / h; both far below the O(eps) tested
    jacobian = np.column_stack([(step(point + h * e) - step(point - h * e)) / (2 * h) for e in np.eye(len(point))])
    values_r, right = np.linalg.eig(jacobian)
    transverse = int(np.argmax(np.abs(values_r - 1)))  # the other eigenvalue is the neutral 1
    mu, v = values_r[transverse].real, right[:, transverse].real  # eig returns unit columns
    values_l, left = np.linalg.eig(jacobian.T)
    ell = left[:, int(np.argmin(np.abs(values_l - 1)))].real
    tangent = np.array([float(sp.diff(sp.sympify(c), free).subs(at)) if c is not None else 1.0
                        for c in entry.coordinates.values()])
    ell = ell / (ell @ tangent)
    assert abs(c) > 1e-6, "pick a point where the drift does not vanish"
    errors = []
    for eps in (1e-2, 1e-3, 1e-4):
        moved = ell @ (step(point + eps * v, 2) - point)
        errors.append(abs(moved - c * eps ** 2 * (1 + mu ** 2)) / abs(c * eps ** 2 * (1 + mu ** 2)))
    # O(eps) relative error, falling about tenfold from eps = 1e-2 to 1e-3; at 1e-4 the floor is the float64
    # eigenvectors' error (~1e-10, leaking a first-order eps term of relative size ~1e-5). A coefficient normalised
    # for a non-unit vector would leave a constant relative error of | |v|^2 - 1 | instead.
    assert errors[1] < errors[0] / 5 and errors[2] < 2e-3, errors
