"""Continuation (numerics/branches/), flip normal forms (analysis/derivations/normal_form.py) and
Feigenbaum's alpha (numerics/flips.py), each against a closed form derived here independently.

Conventions of the flip coefficient (MatContM ``nf_PDm``, Kuznetsov & Meijer 2019):
``b = <p, C(q,q,q) + 3 B(q, (I - A)^{-1} B(q,q))> / 6`` with ``<q, q> = 1``, ``<p, q> = 1``; ``b > 0`` is
supercritical. For a one-dimensional map ``q = p = 1`` (the sign of q does not matter, b is even in q), so
``b = F'''/6 + F''^2/4`` at the flip: for the logistic map ``F = r x (1 - x)`` at ``r = 3``, ``x = 2/3``:
``F'' = -2r = -6``, ``F''' = 0``, ``b = 36/4 = 9``.
"""
from __future__ import annotations

import json
import math
import re
import textwrap

import mpmath
import numpy as np
import pytest
import sympy as sp

from analysis import load_model
from analysis.errors import UserInputError
from numerics.cli import main
from numerics.compile import compile_model
from numerics.branches import continuation, continue_curve
from numerics.axis import Axis

ONE_D_MODEL = '''
import sympy as sp
from analysis import CoordinateModel, Model, Parameter, StateVariable
{symbols}
x = sp.Symbol("x", real=True)
STATE = (StateVariable("x", x, "weight", default=sp.Rational(1, 10)),)
MODEL = Model(name="{name}", summary="{loss}", parameters=({parameters},), state=STATE,
              parameterizations=("default",),
              describe=lambda p: CoordinateModel(loss={loss}, step={step}, state=STATE))
'''


def one_d_model(tmp_path, name, loss, step="eta", extra=()):
    """A user model file: GD with step ``step`` on the one-dimensional loss ``loss`` in ``x``."""
    symbols = ['eta = sp.Symbol("eta", positive=True)'] + [f'{n} = sp.Symbol("{n}", positive=True)' for n in extra]
    parameters = ['Parameter("eta", eta, "learning rate", "positive")'] if step == "eta" else []
    parameters += [f'Parameter("{n}", {n}, "{n}", "positive", default=sp.Integer(1))' for n in extra]
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(ONE_D_MODEL.format(symbols="\n".join(symbols), name=name, loss=loss,
                                                       parameters=", ".join(parameters), step=step)))
    return str(path)


def flips(result, kind="PD"):
    return [s for s in result.special_points if s["type"] == kind]


def test_cubic_normal_form_flips_by_continuation_with_branch_switching():
    # Independent closed forms for z' = (1 + k) z - k z^3: the fixed point z = -1 has multiplier 1 - 2k (flip at
    # k = 1). Its period-2 orbit {z1, z2} (not symmetric): with s = z1 + z2, P = z1 z2, subtracting and adding
    # F(z1) = z2, F(z2) = z1 gives s^2 - P = (2 + k)/k and s^2 - 3P = 1, so P = 1/k, z1^2 + z2^2 = 1 + 1/k, and
    # the multiplier F'(z1) F'(z2) = (1+k)^2 - 3(1+k)^2 + 9 k^2 P^2 = 9 - 2(1+k)^2, which is -1 at k = sqrt(5)-1.
    k, s, P = sp.symbols("k s P", positive=True)
    solution = sp.solve([s ** 2 - P - (2 + k) / k, s ** 2 - 3 * P - 1], [s, P], dict=True)[0]
    multiplier = sp.expand((1 + k) ** 2 - 3 * k * (1 + k) * (solution[s] ** 2 - 2 * solution[P]) + 9 * k ** 2 * solution[P] ** 2)
    (k2,) = [r for r in sp.solve(sp.Eq(multiplier, -1), k) if r > 0]
    assert sp.simplify(k2 - (sp.sqrt(5) - 1)) == 0
    result = continuation("uv-eos", Axis.parse("k=0.5:1.3"), doublings=2)
    pd = flips(result)
    assert [p["period"] for p in pd] == [1, 2, 4]
    # Located by the test function det(A + I) to 1e-10 in k (the requirement); float64 reaches ~1e-14 here.
    assert abs(pd[0]["parameters"]["k"] - 1) < 1e-10
    assert abs(pd[1]["parameters"]["k"] - float(k2)) < 1e-10
    # The period-4 flip against the mpmath-refined Newton solution of `cascade` (an independent method).
    assert abs(pd[2]["parameters"]["k"] - 1.288031754482842762) < 1e-10
    # b at k = 1 by hand: F'' = -6kz = 6, F''' = -6k = -6 at z = -1 -> b = -1 + 36/4 = 8 (supercritical).
    assert pd[0]["normal_form"]["coefficient"] == pytest.approx(8, rel=1e-10)
    assert pd[0]["normal_form"]["closed_form"]["expression"] == "8"
    assert all(p["normal_form"]["criticality"] == "supercritical" for p in pd)
    assert [b.period for b in result.branches] == [1, 2, 4]


def test_b_at_the_first_flip_of_a_one_dimensional_loss_by_hand(tmp_path):
    # L = x^2/2 + x^3/3 + x^4/8: L'' = 1, L''' = 2, L'''' = 3 at the minimum x = 0 (its only fixed point), flip at
    # eta = 2/L'' = 2. By hand with F = x - eta L': F'' = -eta L''' = -4, F''' = -eta L'''' = -6, so
    # b = F'''/6 + F''^2/4 = -1 + 4 = 3 = (3 L'''^2 - L'' L'''')/(3 L''^2) = (12 - 3)/3.
    path = one_d_model(tmp_path, "cubic-quartic", "x**2/2 + x**3/3 + x**4/8")
    result = continuation(path, Axis.parse("eta=1:3"), init={"x": 0.0})
    (pd,) = flips(result)
    assert abs(pd["parameters"]["eta"] - 2) < 1e-10
    assert pd["normal_form"]["coefficient"] == pytest.approx(3, rel=1e-9)
    closed = pd["normal_form"]["closed_form"]
    assert closed["value"] == pytest.approx(3, rel=1e-12) and closed["expression"] == "3"
    # The derivation's closed forms: this loss's b, and the general 1-D formula in L'', L''', L'''' against the
    # hand-worked one (its sign is that of 3 L'''^2 - L'' L'''', the sub-quadratic condition).
    derived = load_model(path).result("normal_form")
    (flip,) = derived.flip_coefficients
    assert flip.coefficient == 3
    L2, L3, L4 = sp.symbols("L_2 L_3 L_4")
    assert sp.simplify(derived.one_dimensional_coefficient - (3 * L3 ** 2 - L2 * L4) / (3 * L2 ** 2)) == 0


@pytest.mark.parametrize("loss,b,critical", [("x**2/2 + x**4/4", -2, "subcritical"),
                                             ("x**2/2 - x**4/4", 2, "supercritical")])
def test_sub_and_supercritical_flips(tmp_path, loss, b, critical):
    # F = x - eta (x +- x^3) at eta = 2: F'' = 0, F''' = -+12 -> b = -+2. The period-2 orbit is born on the unstable
    # side (eta > 2) and attracting when supercritical, on the stable side and repelling when subcritical.
    path = one_d_model(tmp_path, critical, loss)
    result = continuation(path, Axis.parse("eta=1.5:2.5"), init={"x": 0.0}, doublings=1)
    pd = flips(result)[0]
    assert abs(pd["parameters"]["eta"] - 2) < 1e-10
    assert pd["normal_form"]["coefficient"] == pytest.approx(b, rel=1e-9)
    assert pd["normal_form"]["criticality"] == critical
    doubled = result.branches[1]
    assert doubled.period == 2
    near = [p for p in doubled.points if 0 < abs(p["parameters"]["eta"] - 2) < 0.05]
    assert near
    for point in near:
        side = point["parameters"]["eta"] - 2
        assert (side > 0) == (critical == "supercritical")
        assert (abs(point["multipliers"][0]) < 1) == (critical == "supercritical")
    # Independent of the continuation: iterate GD just beyond the flip (eta = 2.02) from a small amplitude; the
    # supercritical flip leaves a small period-2 oscillation (amplitude sqrt(eps/b)-small), the subcritical one
    # escapes.
    from numerics import IteratedMap

    run = IteratedMap(path, values={"eta": 2.02}).run(3000, init={"x": 0.01})
    if critical == "supercritical":
        assert run.outcome.to_dict() == {"name": "periodic", "period": 2} and abs(run.final["x"]) < 0.2
    else:
        assert run.outcome.name == "diverged"


def test_logistic_map_b_at_r_3_through_a_user_model_file(tmp_path):
    # GD with unit step on L = (1 - r) x^2/2 + r x^3/3 is x' = x - L' = r x (1 - x): the logistic map.
    path = tmp_path / "logistic.py"
    path.write_text(textwrap.dedent('''
        import sympy as sp
        from analysis import CoordinateModel, Model, Parameter, StateVariable
        r, x = sp.Symbol("r", positive=True), sp.Symbol("x", real=True)
        STATE = (StateVariable("x", x, "state", default=sp.Rational(1, 3)),)
        MODEL = Model(name="logistic", summary="GD with unit step on (1 - r) x^2/2 + r x^3/3",
                      parameters=(Parameter("r", r, "logistic parameter", "positive"),), state=STATE,
                      parameterizations=("default",),
                      describe=lambda p: CoordinateModel(loss=(1 - r) * x ** 2 / 2 + r * x ** 3 / 3,
                                                         step=sp.Integer(1), state=STATE))
    '''))
    result = continuation(str(path), Axis.parse("r=2.5:3.2"))
    (pd,) = flips(result)
    assert abs(pd["parameters"]["r"] - 3) < 1e-10 and pd["state"]["x"] == pytest.approx(2 / 3, abs=1e-10)
    assert pd["normal_form"]["coefficient"] == pytest.approx(9, rel=1e-9)   # module docstring
    assert pd["normal_form"]["criticality"] == "supercritical"
    assert pd["normal_form"]["closed_form"]["expression"] == "9"


def test_two_parameter_pd_curve_on_the_scaling_hyperbola(tmp_path):
    # GD with step eta on L = a (x^2 - 1)^2/4 is x' = (1 + eta a) x - eta a x^3: the cubic normal form with
    # k = eta a (the scaling symmetry eta -> eta c, a -> a/c). Its period-2 orbit flips where k = sqrt(5) - 1
    # (previous test): the PD curve of period 2 is the hyperbola eta a = sqrt(5) - 1.
    path = one_d_model(tmp_path, "scaled-well", "a*(x**2 - 1)**2/4", extra=("a",))
    result = continue_curve(path, "PD", [Axis.parse("eta=0.5:1.5"), Axis.parse("a=0.8:2")], values={"a": 1}, period=2,
                            init={"x": -1.0})
    (curve,) = result.curves
    assert curve["type"] == "PD" and curve["period"] == 2 and len(curve["points"]) > 10
    products = [p["parameters"]["eta"] * p["parameters"]["a"] for p in curve["points"]]
    # Newton tolerance 1e-12 on the extended system; the product is then exact to a few ulps.
    assert max(abs(v - (math.sqrt(5) - 1)) for v in products) < 1e-10
    etas = [p["parameters"]["eta"] for p in curve["points"]]
    assert min(etas) < 0.7 and max(etas) > 1.4   # traced across the box in both directions
    assert not [s for s in result.special_points if s.get("curve")]   # b is constant (> 0): no GPD


def test_multipliers_along_a_branch_against_numpy_eig():
    # uv (muP) fixed point III as a fixed point of F^2: multipliers of the continuation against numpy.linalg.eig of
    # the product of the compiled (lambdify) Jacobians along the orbit, an independent code path.
    result = continuation("uv", Axis.parse("eta=0.3:1.5"), values={"y": 1, "n": 4}, parameterization="mup",
                          start="III", period=2)
    compiled = compile_model(load_model("uv", "mup"))
    names = compiled.parameter_names
    (branch,) = result.branches
    assert branch.period == 2 and len(branch.points) > 10
    for point in branch.points:
        p = [point["parameters"][n] for n in names]
        state = np.array([point["state"][n] for n in compiled.state_names])
        product = np.eye(2)
        for _ in range(2):
            product = np.array(compiled.jacobian_numpy(*state, *p), dtype=float) @ product
            state = np.array(compiled.step_numpy(*state, *p), dtype=float)
        expected = sorted(np.linalg.eigvals(product), key=lambda z: (-abs(z), z.real))
        got = [complex(m["re"], m["im"]) if isinstance(m, dict) else m for m in point["multipliers"]]
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_family_flip_where_the_transverse_multiplier_is_minus_one():
    # uv (muP) line of minima IV: f = y, any lam; transverse multiplier 1 - eta lam, flip at lam = 2/eta = 4.
    result = continuation("uv", Axis.parse("lam=1:6"), values={"eta": 0.5, "y": 1, "n": 4}, parameterization="mup",
                          start="IV")
    (pd,) = flips(result)
    assert abs(pd["state"]["lam"] - 4) < 1e-10 and pd["state"]["f"] == pytest.approx(1, abs=1e-12)
    assert result.branches[0].family == "IV"
    # The same family with its free coordinate held at lam = 4 while eta varies: the flip is at eta = 2/lam.
    held = continuation("uv", Axis.parse("eta=0.3:1"), values={"y": 1, "n": 4}, parameterization="mup", start="IV",
                        init={"lam": 4})
    (pd,) = flips(held)
    assert abs(pd["parameters"]["eta"] - 0.5) < 1e-10 and pd["state"]["lam"] == 4


def test_closed_form_b_of_a_two_dimensional_map_matches_the_numerical_one():
    # The closed form is nontrivial for the 2-D uv map (muP): fixed point II flips at eta = 3/(x y) with
    # b = 18/(y^2 (4 x^2 + 1)) (derived); at x = y = 1 that is 18/5. The numerical b (chained tensors, numerical
    # eigenvectors) is an independent route to the same number.
    derived = load_model("uv", "mup")
    flips_ = {f.label: f for f in derived.result("normal_form").flip_coefficients}
    assert "II" in flips_
    by_name = {str(s): s for s in flips_["II"].coefficient.free_symbols}
    x, y = by_name["x"], by_name["y"]
    assert sp.simplify(flips_["II"].coefficient - 18 / (y ** 2 * (4 * x ** 2 + 1))) == 0
    result = continuation("uv", Axis.parse("eta=2.5:3.5"), values={"x": 1, "y": 1, "n": 4}, parameterization="mup",
                          start="II")
    pd = [s for s in flips(result) if "closed_form" in s.get("normal_form", {})]
    assert pd, "no flip of III with a closed-form coefficient on the branch"
    nf = pd[0]["normal_form"]
    assert abs(pd[0]["parameters"]["eta"] - 3) < 1e-10
    assert nf["closed_form"]["value"] == pytest.approx(18 / 5, rel=1e-12)
    assert nf["coefficient"] == pytest.approx(18 / 5, rel=1e-8)


def test_feigenbaum_alpha_from_superstable_orbits():
    from numerics import cascade
    from numerics.feigenbaum import FEIGENBAUM_ALPHA

    result = cascade("uv-eos", "k", doublings=13, digits=40).to_dict()
    assert len(result["superstable"]) >= 10
    # Superstable k lie strictly between consecutive flips.
    flips_ = [b["parameter"] for b in result["bifurcations"]]
    assert all(flips_[j] < s < flips_[j + 1] for j, s in enumerate(result["superstable"]))
    # The raw ratios converge like (-1/alpha)^j, then delta^-j; twice-accelerated they reach 8 digits.
    error = abs(mpmath.mpf(result["alpha_aitken"][-1]) - FEIGENBAUM_ALPHA)
    assert error < 2e-8 * FEIGENBAUM_ALPHA
    assert result["alpha_correct_digits_aitken"][-1] >= 8


def test_cascade_to_period_1024_by_continuation():
    result = continuation("uv-eos", Axis.parse("k=0.5:1.4"), doublings=10)
    periods = [s["period"] for s in flips(result)]
    assert periods[:10] == [2 ** j for j in range(10)]
    assert result.branches[-1].period == 1024  # how fast: docs/performance.md, measured by benchmarks/


@pytest.mark.parametrize("argv,message", [
    (["uv-eos", "--vary", "k=0.5:1.3", "--start", "VII"], "unknown --start label 'VII'"),
    (["uv", "-p", "mup", "--set", "y=1", "--set", "n=4", "--vary", "eta=-1:2"], "the range of eta must be inside"),
    (["uv-eos", "--vary", "k=1"], "--vary 'k=1': expected an interval A:B"),
    (["uv-eos", "--vary", "k=a:b"], "--vary 'k=a:b': expected NAME=A:B:N"),
    (["uv-eos", "--vary", "k=1:1"], "--vary 'k=1:1': an interval A:B needs two different finite numbers"),
    (["uv-eos", "--vary", "k=0.5:1.3:10"], "--vary 'k=0.5:1.3:10': expected an interval A:B"),
    (["uv-eos", "--vary", "k=0.5:1.3", "--curve", "PD"], "--curve needs exactly two --vary"),
    (["uv-eos", "--vary", "q=0:1"], "unknown parameter 'q'"),
    (["uv", "-p", "mup", "--set", "y=1", "--set", "n=4", "--vary", "eta=0.3:1", "--start", "III", "--init", "lam=4"],
     "only the free coordinates of a family"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert main(["continuation", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_json_keys_and_plot(tmp_path, capsys):
    figure = tmp_path / "branch.png"
    assert main(["continuation", "uv-eos", "--vary", "k=0.5:1.3", "--doublings", "1", "--json", "--quiet",
                 "--plot", str(figure)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"branches", "special_points"} <= set(payload)
    point = payload["branches"][0]["points"][0]
    assert set(point) == {"parameters", "state", "multipliers"}
    pd = payload["special_points"][0]
    assert pd["type"] == "PD" and pd["period"] == 1 and set(pd["normal_form"]) >= {"coefficient", "criticality"}
    assert figure.stat().st_size > 1000
    with pytest.raises(UserInputError, match="two different parameters"):
        continue_curve("uv-eos", "PD", [Axis.parse("k=0.5:1.1"), Axis.parse("k=0.5:1.1")], period=2)


def test_fold_of_a_tilted_cubic_and_its_lp_curve(tmp_path):
    # L = x^3/3 - c x: critical points x = +-sqrt(c) meet at c = 0 (a fold of fixed points of GD for every step
    # eta; multiplier 1 - 2 eta x = 1 there). Fold coefficient a = <p, B(q,q)>/2 = F''/2 = -eta (F = x - eta L').
    path = tmp_path / "tilted.py"
    path.write_text(textwrap.dedent('''
        import sympy as sp
        from analysis import CoordinateModel, Model, Parameter, StateVariable
        eta, c, x = sp.Symbol("eta", positive=True), sp.Symbol("c", real=True), sp.Symbol("x", real=True)
        STATE = (StateVariable("x", x, "weight", default=sp.Integer(1)),)
        MODEL = Model(name="tilted", summary="x^3/3 - c x",
                      parameters=(Parameter("eta", eta, "learning rate", "positive"),
                                  Parameter("c", c, "tilt", "real", default=sp.Integer(1))), state=STATE,
                      parameterizations=("default",),
                      describe=lambda p: CoordinateModel(loss=x ** 3 / 3 - c * x, step=eta, state=STATE))
    '''))
    result = continuation(str(path), Axis.parse("c=1:-1"), values={"eta": 0.3}, init={"x": 1.0})
    (lp,) = flips(result, "LP")
    assert abs(lp["parameters"]["c"]) < 1e-10 and abs(lp["state"]["x"]) < 1e-5   # x ~ sqrt(c): a fold
    assert lp["normal_form"]["coefficient"] == pytest.approx(-0.3, rel=1e-6)
    # The branch turns at the fold and comes back (c increases again on the x < 0 side).
    assert result.branches[0].points[-1]["state"]["x"] < 0
    curve = continue_curve(str(path), "LP", [Axis.parse("c=1:-1"), Axis.parse("eta=0.1:0.5")], values={"eta": 0.3},
                           init={"x": 1.0}).curves[0]
    assert max(abs(p["parameters"]["c"]) for p in curve["points"]) < 1e-10   # the LP curve is c = 0
    etas = [p["parameters"]["eta"] for p in curve["points"]]
    assert min(etas) < 0.15 and max(etas) > 0.45


def test_neimark_sacker_coefficient_of_a_map_in_normal_form():
    # z' = e^{i theta} z + a z^2 conj(z) (z = x + i y) as a real map. With q = (1, -i)/sqrt(2) (<q, q> = 1) the
    # centre coordinate is w = z/sqrt(2), so w' = e^{i theta} w + 2a w^2 conj(w): g21/2 = 2a and the first Lyapunov
    # coefficient is d = Re(e^{-i theta} 2a) (Kuznetsov & Meijer 2019, Sec. 4.5; no quadratic terms).
    from numerics.branches import ns_coefficient

    theta, a = 1.0, complex(-1.0, 0.5)
    x, y = sp.symbols("x y", real=True)
    z = x + sp.I * y
    image = sp.expand(sp.exp(sp.I * theta) * z + (sp.Float(a.real) + sp.I * a.imag) * z ** 2 * sp.conjugate(z))
    F = [sp.re(image), sp.im(image)]
    at = {x: 0, y: 0}
    states = [x, y]
    A = np.array([[float(sp.diff(f, s).subs(at)) for s in states] for f in F])
    H = np.array([[[float(sp.diff(f, s, t).subs(at)) for t in states] for s in states] for f in F])
    T = np.array([[[[float(sp.diff(f, s, t, u).subs(at)) for u in states] for t in states] for s in states]
                  for f in F])
    data = {"A": [A], "H": [H], "T": [T]}
    expected = (np.exp(-1j * theta) * 2 * a).real
    assert ns_coefficient(data, A) == pytest.approx(expected, rel=1e-12)


def test_generalised_flip_on_a_pd_curve(tmp_path):
    # L = x^2/2 + x^3/3 + c x^4/4: L'' = 1, L''' = 2, L'''' = 6c at x = 0, so the flip is at eta = 2 for every c
    # (the PD curve is the line eta = 2) and b = (3 L'''^2 - L'' L'''')/(3 L''^2) = 4 - 2c changes sign at c = 2:
    # a generalised flip (GPD).
    path = one_d_model(tmp_path, "gpd", "x**2/2 + x**3/3 + c*x**4/4", extra=("c",))
    result = continue_curve(path, "PD", [Axis.parse("eta=1:3"), Axis.parse("c=0.5:3")], values={"c": 1},
                            init={"x": 0.0})
    (curve,) = result.curves
    assert max(abs(p["parameters"]["eta"] - 2) for p in curve["points"]) < 1e-10
    (gpd,) = [s for s in result.special_points if s["type"] == "GPD"]
    assert abs(gpd["parameters"]["c"] - 2) < 1e-8 and abs(gpd["parameters"]["eta"] - 2) < 1e-10
    pd = flips(result)[0]
    assert pd["normal_form"]["coefficient"] == pytest.approx(2, rel=1e-9)   # 4 - 2c at c = 1


def test_neimark_sacker_curve_of_heavy_ball_momentum():
    # Heavy-ball on uv-eos (unit step, curvature V'' = 2k at z = -1): the multipliers solve
    # mu^2 - (1 + beta - 2k) mu + beta = 0, a complex pair of modulus sqrt(beta): the NS curve is beta = 1, with
    # kappa = cos(theta) = 1 - k, hence R4 (kappa = 0) at k = 1, R3 (kappa = -1/2) at k = 3/2, R2 at k = 2.
    from analysis.errors import UnsupportedOptionError

    try:
        result = continue_curve("uv-eos", "NS", [Axis.parse("beta=0.5:1.2"), Axis.parse("k=0.2:2.5")],
                                values={"k": 0.5, "beta": 0.5}, options={"optimizer": "heavy-ball"})
    except (UnsupportedOptionError, TypeError) as error:  # momentum is optional in this checkout
        pytest.skip(f"no heavy-ball optimizer: {error}")
    (curve,) = result.curves
    assert max(abs(p["parameters"]["beta"] - 1) for p in curve["points"]) < 1e-10
    found = {s["type"]: s["parameters"]["k"] for s in result.special_points if s.get("curve")}
    assert set(found) == {"R4", "R3", "R2"}
    for kind, k in (("R4", 1.0), ("R3", 1.5), ("R2", 2.0)):
        assert abs(found[kind] - k) < 1e-10
    (ns,) = flips(result, "NS")
    assert ns["normal_form"]["criticality"] == "degenerate"   # beta = 1: no damping, an area-preserving map


# ------------------------------------------------------------------------- codimension two on LP and PD curves
def _model_file(tmp_path, name, parameters, loss, state=("x",)):
    """A user model file: GD with step ``eta`` on ``loss``; ``parameters`` is ``[(name, domain, default)]``."""
    symbols = "\n".join(f'{n} = sp.Symbol("{n}", {"real" if d == "real" else "positive"}=True)'
                        for n, d, _ in parameters)
    states = "\n".join(f'{s} = sp.Symbol("{s}", real=True)' for s in state)
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(f'''
        import sympy as sp
        from analysis import CoordinateModel, Model, Parameter, StateVariable
        eta = sp.Symbol("eta", positive=True)
    ''') + symbols + "\n" + states + "\n" + textwrap.dedent(f'''
        STATE = ({", ".join(f'StateVariable("{s}", {s}, "weight", default=sp.Integer(0))' for s in state)},)
        MODEL = Model(name="{name}", summary="{loss}", state=STATE, parameterizations=("default",),
                      parameters=(Parameter("eta", eta, "learning rate", "positive"),
                                  {" ".join(f'Parameter("{n}", {n}, "{n}", "{d}", default=sp.Integer({v})),'
                                            for n, d, v in parameters)}),
                      describe=lambda p: CoordinateModel(loss={loss}, step=eta, state=STATE))
    '''))
    return str(path)


def test_cusp_on_the_lp_curve_of_a_quartic(tmp_path):
    # GD with step eta on L = x^4/4 + a x^2/2 + b x: fixed points x^3 + a x + b = 0, fold where also 3x^2 + a = 0,
    # i.e. the LP curve is a = -3 s^2, b = 2 s^3 (s = x), with the cusp CP at a = b = 0. With F = x - eta L' the
    # fold coefficient is a_nf = F''/2 = -3 eta x (q = p = 1 in 1-D), zero exactly at the cusp. At a = -1 the
    # branch started at b = -1 (x^3 - x - 1 = 0, x = 1.3247...) folds at x = 1/sqrt(3), b = 2/(3 sqrt(3)).
    path = _model_file(tmp_path, "cusp", [("a", "real", -1), ("b", "real", 0)], "x**4/4 + a*x**2/2 + b*x")
    result = continue_curve(path, "LP", [Axis.parse("b=-1:1"), Axis.parse("a=-1.5:0.5")], values={"eta": 0.1, "a": -1},
                            init={"x": 1.3247})
    lp = flips(result, "LP")[0]
    s = 1 / math.sqrt(3)
    # Located to 1e-12 in the parameter by the tangent's b-component; 1e-10 leaves room for the x ~ sqrt fold.
    assert abs(lp["parameters"]["b"] - 2 * s ** 3) < 1e-10 and abs(lp["state"]["x"] - s) < 1e-5
    assert lp["normal_form"]["coefficient"] == pytest.approx(-3 * 0.1 * s, rel=1e-6)
    (curve,) = result.curves
    points = curve["points"]
    assert len(points) > 10
    for point in points:   # on the closed-form curve (Newton on the extended system to 1e-12)
        x = point["state"]["x"]
        assert abs(point["parameters"]["a"] + 3 * x ** 2) < 1e-10
        assert abs(point["parameters"]["b"] - 2 * x ** 3) < 1e-10
    assert min(p["state"]["x"] for p in points) < -0.3 and max(p["state"]["x"] for p in points) > 0.3
    codim2 = [sp_ for sp_ in result.special_points if sp_.get("curve")]
    assert [c["type"] for c in codim2] == ["CP"]   # 1-D: no other multiplier, so no R1/LPPD
    (cp,) = codim2
    # The test function a_nf is linear in x along the curve, so regula falsi lands on x = 0 to round-off; a and
    # b go as x^2 and x^3. The brief's tolerance: (0, 0) within 1e-8.
    assert abs(cp["parameters"]["a"]) < 1e-8 and abs(cp["parameters"]["b"]) < 1e-8 and abs(cp["state"]["x"]) < 1e-8


def test_fold_flip_on_lp_and_pd_curves(tmp_path):
    # GD with step eta on L = x^3/3 - b x + c y^2/2 (decoupled): fixed points x = +-sqrt(b), y = 0, multipliers
    # 1 - 2 eta x (fold at b = 0, x = 0) and 1 - eta c (flip at c = 2/eta). The LP curve is the line b = 0, the
    # PD curve the line c = 2/eta; they cross at the fold-flip LPPD (b, c) = (0, 2/eta) = (0, 2.5) at eta = 0.8.
    path = _model_file(tmp_path, "foldflip", [("b", "real", 1), ("c", "positive", 1)], "x**3/3 - b*x + c*y**2/2",
                       state=("x", "y"))
    on_lp = continue_curve(path, "LP", [Axis.parse("b=1:-1"), Axis.parse("c=1:4")], values={"eta": 0.8, "c": 1},
                           init={"x": 1.0, "y": 0.0})
    assert max(abs(p["parameters"]["b"]) for p in on_lp.curves[0]["points"]) < 1e-10
    on_pd = continue_curve(path, "PD", [Axis.parse("c=1:4"), Axis.parse("b=-0.5:1")], values={"eta": 0.8, "b": 1},
                           init={"x": 1.0, "y": 0.0})
    assert max(abs(p["parameters"]["c"] - 2.5) for p in on_pd.curves[0]["points"]) < 1e-10
    for result, curve in ((on_lp, "LP"), (on_pd, "PD")):
        codim2 = [s for s in result.special_points if s.get("curve")]
        assert [s["type"] for s in codim2] == ["LPPD"], curve
        (point,) = codim2
        # Test functions prod(mu_other -+ 1) are linear in c (LP curve) or in x (PD curve, b = x^2): the zero is
        # found to round-off; 1e-10 is the location tolerance with margin.
        assert abs(point["parameters"]["b"]) < 1e-10 and abs(point["parameters"]["c"] - 2.5) < 1e-10
        assert sorted(point["multipliers"]) == pytest.approx([-1, 1], abs=1e-9)


def test_r1_on_the_lp_curve_of_heavy_ball_and_no_spurious_cusp(tmp_path):
    # Heavy-ball on L = x^3/3 - c x: at a fixed point (x = +-sqrt(c), v = 0) with h = L'' = 2x the Jacobian of
    # (x, v) -> (x - eta (beta v + L'), beta v + L') is [[1 - eta h, -eta beta], [h, beta]], trace 1 + beta - eta h,
    # determinant beta. On the fold (c = 0, h = 0) the multipliers are 1 and beta: the LP curve is c = 0 and it
    # has a 1:1 resonance R1 (a Jordan block, the off-diagonal -eta beta != 0) at beta = 1. There the fold
    # coefficient, normalised by <p, q> = 1 with <p, q> -> 0, changes sign through a pole: no CP may be reported.
    from analysis.errors import UnsupportedOptionError

    path = _model_file(tmp_path, "tilted", [("c", "real", 1)], "x**3/3 - c*x")
    try:
        result = continue_curve(path, "LP", [Axis.parse("c=1:-1"), Axis.parse("beta=0.5:1.5")],
                                values={"eta": 0.3, "beta": 0.6}, init={"x": 1.0}, options={"optimizer": "heavy-ball"})
    except (UnsupportedOptionError, TypeError) as error:  # momentum is optional in this checkout
        pytest.skip(f"no heavy-ball optimizer: {error}")
    points = result.curves[0]["points"]
    assert max(abs(p["parameters"]["c"]) for p in points) < 1e-10
    assert min(p["parameters"]["beta"] for p in points) < 0.6 and max(p["parameters"]["beta"] for p in points) > 1.4
    codim2 = [s for s in result.special_points if s.get("curve")]
    assert [s["type"] for s in codim2] == ["R1"]
    # The R1 test prod(mu_other - 1) = beta - 1 is linear along the curve: found to round-off (1e-10 with margin).
    assert abs(codim2[0]["parameters"]["beta"] - 1) < 1e-10 and abs(codim2[0]["parameters"]["c"]) < 1e-10


def test_cli_curves_over_a_sweep_phase_diagram(tmp_path, capsys):
    # A tiny 2-D sweep of the scaled well (6 x 5 points, 50 steps) under the period-2 PD curve eta a = sqrt(5) - 1.
    path = one_d_model(tmp_path, "scaled-well", "a*(x**2 - 1)**2/4", extra=("a",))
    store = tmp_path / "phase.zarr"
    assert main(["sweep", path, "--vary", "eta=0.5:1.5:6", "--vary", "a=0.8:2:5", "--steps", "50", "--set", "a=1",
                 "--init", "x=-0.9", "--out", str(store), "--quiet"]) == 0
    capsys.readouterr()
    curve_args = ["continuation", path, "--curve", "PD", "--vary", "eta=0.5:1.5", "--vary", "a=0.8:2", "--period",
                  "2", "--init", "x=-1", "--set", "a=1", "--quiet"]
    over, bare = tmp_path / "over.png", tmp_path / "bare.png"
    assert main([*curve_args, "--over", str(store), "--plot", str(over)]) == 0
    assert main([*curve_args, "--plot", str(bare)]) == 0
    import matplotlib.image

    with_sweep, without = matplotlib.image.imread(str(over)), matplotlib.image.imread(str(bare))
    colours = lambda image: len(np.unique(image[..., :3].reshape(-1, 3), axis=0))  # noqa: E731
    # The phase diagram fills the axes with outcome colours: many more distinct colours than the bare curve, and
    # a different picture (not just an existing file).
    assert over.stat().st_size > 10_000
    assert with_sweep.shape != without.shape or not np.array_equal(with_sweep, without)
    assert colours(with_sweep) > colours(without)
    capsys.readouterr()
    for bad, message in ((tmp_path / "missing.zarr", "missing.zarr"), (tmp_path / "phase.txt", "--over must be")):
        assert main([*curve_args, "--over", str(bad), "--plot", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("loss,plane,values,kind,where", [
    # y-block of L = y^3/3 - b y at y = +-sqrt(b): curvature h_y = 2y; fold (multiplier 1) at b = 0.
    ("x**2/2 + y**3/3 - b*y", "b=-0.5:1.2", {"b": 1}, "LPNS", ("b", 0.0)),
    # y-block of L = c y^2/2 at y = 0: multiplier -1 where 2 + 2 beta - eta c (1 + 2 beta) = 0, c = 12/5.
    # (c starts at 2, away from c = 1 where the y-block would sit on the unit circle with the x-block.)
    ("x**2/2 + c*y**2/2", "c=1.5:4", {"c": 2}, "PDNS", ("c", 2.4)),
])
def test_lpns_and_pdns_on_the_ns_curve_of_nesterov_momentum(tmp_path, loss, plane, values, kind, where):
    # Nesterov (v' = beta v + g, x' = x - eta (g + beta v')) on a decoupled loss: each coordinate's block at a fixed
    # point of curvature h is [[1 - eta h (1 + beta), -eta beta^2], [h, beta]]: trace (1 + beta)(1 - eta h),
    # determinant beta (1 - eta h), characteristic polynomial at 1: eta h, at -1: 2 + 2 beta - eta h (1 + 2 beta).
    # The x-block (h = 1, eta = 1/2) has a pair on the unit circle where beta (1 - eta) = 1: the NS curve is the
    # line beta = 2 with kappa = cos(theta) = (1 + beta)/(2 beta) = 3/4. Where the y-block has a multiplier 1
    # (LPNS) or -1 (PDNS) along it is a codimension-two point. (The x-block is linear: no CH.)
    from analysis.errors import UnsupportedOptionError

    parameters = [("b", "real", 1)] if kind == "LPNS" else [("c", "positive", 1)]
    path = _model_file(tmp_path, kind.lower(), parameters, loss, state=("x", "y"))
    try:
        result = continue_curve(path, "NS", [Axis.parse("beta=0.9:2.5"), Axis.parse(plane)],
                                values={"eta": 0.5, **values}, init={"x": 0.0, "y": 1.0 if kind == "LPNS" else 0.0},
                                options={"optimizer": "nesterov"})
    except (UnsupportedOptionError, TypeError) as error:  # momentum is optional in this checkout
        pytest.skip(f"no nesterov optimizer: {error}")
    (ns,) = flips(result, "NS")
    assert abs(ns["parameters"]["beta"] - 2) < 1e-10
    points = result.curves[0]["points"]
    assert max(abs(p["parameters"]["beta"] - 2) for p in points) < 1e-10
    codim2 = [s for s in result.special_points if s.get("curve")]
    assert [s["type"] for s in codim2] == [kind]
    (point,) = codim2
    # The test function (the y-block's characteristic polynomial at +-1) is linear in h_y along the curve, so the
    # zero is found to round-off; 1e-10 is the location tolerance with margin.
    name, value = where
    assert abs(point["parameters"][name] - value) < 1e-10 and abs(point["parameters"]["beta"] - 2) < 1e-10
    pair = [complex(m["re"], m["im"]) for m in point["multipliers"] if isinstance(m, dict)]
    assert pair and all(abs(m.real - 0.75) < 1e-10 and abs(abs(m) - 1) < 1e-10 for m in pair)
    assert min(abs(m - (1 if kind == "LPNS" else -1)) for m in point["multipliers"] if not isinstance(m, dict)) \
        < 1e-9


# ------------------------------------------------------------------------------ cascade: the shared flip engine
def _flip_by_findroot(step, jacobian, guess, period, dps=50):
    """Reference flip of a period-``period`` orbit, independent of the library's Newton: mpmath.findroot on
    F^p(s) - s = 0, det(DF^p(s) + I) = 0 in (s, P) with the map ``step(s, P)`` and its Jacobian written by hand
    in the test. Returns (state, P)."""
    d = len(guess) - 1

    def residuals(*unknowns):
        state, parameter = list(unknowns[:d]), unknowns[d]
        product = mpmath.eye(d)
        start = list(state)
        for _ in range(period):
            product = mpmath.matrix(jacobian(state, parameter)) * product
            state = step(state, parameter)
        return [state[i] - start[i] for i in range(d)] + [mpmath.det(product + mpmath.eye(d))]

    with mpmath.workdps(dps):
        root = mpmath.findroot(residuals, [mpmath.mpf(v) for v in guess], tol=mpmath.mpf(10) ** (-2 * dps + 10))
        return [root[i] for i in range(d)], root[d]


def test_cascade_of_a_fixed_point_away_from_the_default_start(tmp_path):
    """L = x^4/4 - 4x^3/3 + 3x^2/2, L' = x(x - 1)(x - 3): minima x = 0 (L'' = 3, flip at eta = 2/3) and x = 3
    (L'' = 6, flip at eta = 1/3); the default start x = 0.1 lies in the basin of x = 0. Without init the cascade is
    that of x = 3 (the lowest flip), with init={"x": 0.2} that of x = 0; each period-2 and period-4 flip is on
    the orbit born at the previous flip (near its fixed point), checked against mpmath.findroot at 50 digits on
    the hand-written map F(x) = x - eta L'(x)."""
    path = one_d_model(tmp_path, "two-wells", "x**4/4 - 4*x**3/3 + 3*x**2/2")
    from numerics import cascade

    step = lambda s, eta: [s[0] - eta * s[0] * (s[0] - 1) * (s[0] - 3)]  # noqa: E731
    jacobian = lambda s, eta: [[1 - eta * (3 * s[0] ** 2 - 8 * s[0] + 3)]]  # noqa: E731
    for init, fixed, first in ((None, 3, sp.Rational(1, 3)), ({"x": 0.2}, 0, sp.Rational(2, 3))):
        result = cascade(path, "eta", doublings=3, digits=30, init=init)
        payload = result.to_dict()
        assert result.stopped is None and [b.period for b in result.bifurcations] == [1, 2, 4]
        assert result.bifurcations[0].exact == first and float(result.bifurcations[0].state[0]) == fixed
        assert payload["flipping"] == [{"fixed_point": "III", "parameter": 1 / 3, "exact": "1/3"},
                                       {"fixed_point": "I", "parameter": 2 / 3, "exact": "2/3"}]
        assert payload["fixed_point"] == ("III" if init is None else "I")
        for flip in result.bifurcations[1:]:
            # A coarse guess (3 digits) only selects the root; findroot solves the equations itself.
            guess = [round(float(flip.state[0]), 2), round(float(flip.parameter), 3)]
            state, parameter = _flip_by_findroot(step, jacobian, guess, flip.period)
            # 1e-9 is the requirement; the flips are verified to 30 digits, so agree to ~1e-29.
            assert abs(flip.parameter - parameter) < 1e-9
            assert abs(flip.parameter - parameter) < 10 ** (2 - flip.verified_digits)
            orbit = [state]
            for _ in range(flip.period - 1):
                orbit.append(step(orbit[-1], parameter))
            # A genuine period-p orbit (not the parent's), around its own fixed point (the other lies 3 away).
            assert min(abs(o[0] - state[0]) for o in orbit[1:] + [[state[0] + 1]]) > 1e-3
            assert all(abs(o[0] - fixed) < 1 for o in orbit)
        assert all(b["normal_form"]["criticality"] == "supercritical" for b in payload["bifurcations"])


def test_heavy_ball_cascade_continues_past_its_first_flip():
    """README: heavy-ball on uv-eos at beta = 0.3 used to stop after k = 1.3 with "the orbit born there diverges
    or is not attracting" although b > 0 there. The period-2 and period-4 flips against mpmath.findroot on the
    hand-written heavy-ball map v' = beta v + k (z^3 - z), z' = z - v' (the README's convention at unit step),
    and against continuation (Illinois location on the arclength, another method)."""
    from numerics import cascade

    def step(s, k):
        z, v = s
        v = mpmath.mpf(3) / 10 * v + k * (z ** 3 - z)  # beta = 3/10 at the working precision
        return [z - v, v]

    def jacobian(s, k):
        z, _ = s
        g = k * (3 * z ** 2 - 1)
        return [[1 - g, -mpmath.mpf(3) / 10], [g, mpmath.mpf(3) / 10]]

    model = load_model("uv-eos", optimizer="heavy-ball")
    result = cascade(model, "k", values={"beta": sp.Rational(3, 10)}, doublings=3, digits=30)
    assert result.stopped is None, result.stopped
    flips_ = result.bifurcations
    assert flips_[0].exact == sp.Rational(13, 10)
    # b at k = 1.3 against the derived closed form -8 (beta + 1)/(5 (beta - 1)) = 104/35.
    assert flips_[0].normal_form["coefficient"] == pytest.approx(104 / 35, rel=1e-9)
    for flip in flips_[1:]:
        guess = [round(float(v), 2) for v in flip.state] + [round(float(flip.parameter), 3)]
        _, parameter = _flip_by_findroot(step, jacobian, guess, flip.period)
        assert abs(flip.parameter - parameter) < 1e-9
        assert abs(flip.parameter - parameter) < 10 ** (2 - flip.verified_digits)
    continued = continuation(model, Axis.parse("k=1.2:1.6"), values={"beta": 0.3}, doublings=2)
    located = [s["parameters"]["k"] for s in flips(continued)]
    # LOCATE_TOLERANCE is 1e-12 in k; 1e-9 leaves room for the float64 orbit of period 4.
    assert located == pytest.approx([float(f.parameter) for f in flips_], abs=1e-9)


def test_cascade_stops_say_what_was_checked(tmp_path):
    """A stop names the evidence and agrees with the normal form: at a subcritical flip (F = x - eta (x + x^3),
    b = -2 at eta = 2) the period-2 orbit exists before the flip and repels, so the cascade stops there and says
    so with the sign of b; where the period-2 orbit is followed but loses stability another way, the stop names
    its multipliers."""
    from numerics import cascade

    sub = cascade(one_d_model(tmp_path, "subcritical", "x**2/2 + x**4/4"), "eta", doublings=3, digits=20)
    assert len(sub.bifurcations) == 1
    assert "subcritical" in sub.stopped and "b = -2" in sub.stopped and "repels" in sub.stopped
    assert "diverges" not in sub.stopped
    assert sub.to_dict()["bifurcations"][0]["normal_form"]["criticality"] == "subcritical"
    # x' = x - eta (x - x^3): b = 2 > 0 at eta = 2, and the period-2 orbit {s, -s} (s^2 = 1 - 2/eta, by hand
    # from F(s) = -s) has multiplier F'(s)^2 = (2 eta - 5)^2 >= 0: it never flips; at eta = 3 it reaches +1, a
    # symmetry-breaking branch point. The stop says that, with the multiplier it checked, and not "diverges".
    sup = cascade(one_d_model(tmp_path, "supercritical", "x**2/2 - x**4/4"), "eta", doublings=3, digits=20)
    assert len(sup.bifurcations) == 1 and sup.bifurcations[0].normal_form["criticality"] == "supercritical"
    assert "branch point" in sup.stopped, sup.stopped
    # Printed to 5 digits: the corrector is singular at a branch point, which limits its location to ~1e-5.
    assert re.search(r"continued to eta = ([0-9.]+),", sup.stopped).group(1) == "3"
    multiplier = float(re.search(r"a multiplier \+1: \[([0-9.]+)\]", sup.stopped).group(1))
    assert multiplier == pytest.approx(1, abs=1e-4)
    assert "b = 2 > 0" in sup.stopped and "diverges" not in sup.stopped
    assert sup.stopped in str(sup)


def test_cascade_does_not_take_the_flip_of_a_repelling_orbit():
    """(a b - y)^2/2 + (a - 2b)^2/20 at y = 1: the minima +-(sqrt 2, 1/sqrt 2) flip at eta = 15/4 - sqrt(145)/4
    (b > 0); the period-2 orbit born there loses stability at eta = 1.1133 by a complex pair (Neimark-Sacker),
    and only at eta = 1.8261, where it is a saddle, does a multiplier reach -1. The old cascade printed that as the
    next period-doubling to 20 digits; now the cascade stops at the Neimark-Sacker point and names the pair.
    Independent check: the period-2 orbit by mpmath.findroot on the hand-written GD map at eta = 1.11 and 1.12,
    and the moduli of its multipliers (a complex pair, inside then outside the unit circle)."""
    from numerics import cascade

    model = load_model("product", loss="(a*b - y)^2/2 + (a - 2*b)^2/20")
    result = cascade(model, "eta", values={"y": 1}, doublings=3, digits=20)
    assert [b.period for b in result.bifurcations] == [1]
    assert result.bifurcations[0].exact == sp.Rational(15, 4) - sp.sqrt(145) / 4
    assert "Neimark-Sacker" in result.stopped and "complex pair" in result.stopped, result.stopped
    where = float(re.search(r"continued to eta = ([0-9.]+)", result.stopped).group(1))
    assert 1.11 < where < 1.12

    def step(s, eta):
        a, b = s
        return [a - eta * (b * (a * b - 1) + (a - 2 * b) / 10), b - eta * (a * (a * b - 1) - (a - 2 * b) / 5)]

    def moduli(eta):
        with mpmath.workdps(30):
            orbit = mpmath.findroot(lambda a, b: [u - v for u, v in zip(step(step([a, b], eta), eta), [a, b])],
                                    (mpmath.mpf(-0.95), mpmath.mpf(-0.44)))
            state = [orbit[0], orbit[1]]
            assert abs(step(state, eta)[0] - state[0]) > 1e-3  # a period-2 orbit, not the fixed point
            jac = lambda s: mpmath.matrix([[1 - eta * (s[1] ** 2 + mpmath.mpf(1) / 10),  # noqa: E731
                                           -eta * (2 * s[0] * s[1] - 1 - mpmath.mpf(2) / 10)],
                                          [-eta * (2 * s[0] * s[1] - 1 - mpmath.mpf(1) / 5),
                                           1 - eta * (s[0] ** 2 + mpmath.mpf(2) / 5)]])
            values, _ = mpmath.eig(jac(step(state, eta)) * jac(state))
            return [abs(v) for v in values], [abs(mpmath.im(v)) for v in values]

    below, imag_below = moduli(mpmath.mpf("1.11"))
    above, imag_above = moduli(mpmath.mpf("1.12"))
    assert max(below) < 1 < min(above) and min(imag_below + imag_above) > 0.1


def test_cascade_digits_are_the_verified_ones(capsys):
    """Each flip's parameter_digits carries only the digits its mpmath Newton verified: a 20-digit run agrees with
    a 40-digit run to within one unit of its last printed digit; --init picks the fixed point nearest to it."""
    from numerics import cascade

    coarse, fine = (cascade("uv-eos", "k", doublings=5, digits=n).to_dict() for n in (20, 40))
    for low, high in zip(coarse["bifurcations"], fine["bifurcations"]):
        assert 15 <= low["verified_digits"] <= 20 and len(low["parameter_digits"].replace(".", "")) <= 20
        error = abs(mpmath.mpf(low["parameter_digits"]) - mpmath.mpf(high["parameter_digits"]))
        assert error <= 10 ** (1 - low["verified_digits"]) * abs(mpmath.mpf(high["parameter_digits"]))
    assert all(n <= 20 for n in coarse["delta_verified_digits"])
    assert main(["cascade", "uv-eos", "--vary", "k", "--init", "z=0.9", "--doublings", "2", "--json", "--quiet"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["fixed_point"] == "III" and payload["chosen_by"] == "the fixed point nearest to init"
    assert [f["fixed_point"] for f in payload["flipping"]] == ["I", "III"]
    assert main(["cascade", "uv-eos", "--vary", "k", "--init", "w=1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown state variable 'w' in --init" in err and len(err.strip().splitlines()) == 1
