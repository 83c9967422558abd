"""Momentum (heavy-ball, Nesterov; issue 13): thresholds, fixed-point multipliers, cross-checks, torch.optim.SGD,
and a momentum run at its own edge of stability."""
import dataclasses
import re
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

from analysis import Parameter, load_model
from analysis.errors import DomainError, UnknownNameError, UnsupportedOptionError
from analysis.optimizers import (BETA, ETA, OPTIMIZERS, characteristic_polynomial, one_step_matrix,
                                 sharpness_threshold, threshold_expression)
from numerics import IteratedMap, crosscheck
from numerics.parameter_space import ParameterSpaceGD

# The closed forms of Cohen et al. 2021 (Sec. 5 and App.), typed here only to be compared with the derivation.
CLOSED_FORMS = {"gd": 2 / ETA, "heavy-ball": (2 + 2 * BETA) / ETA,
                "nesterov": (2 + 2 * BETA) / (ETA * (1 + 2 * BETA))}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_threshold_of_a_quadratic_is_derived_equal_to_the_closed_form(optimizer):
    """Exact: the derived curvature where a multiplier is -1 equals the closed form identically in eta, beta."""
    assert sp.simplify(threshold_expression(optimizer) - CLOSED_FORMS[optimizer]) == 0


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("eta, beta", [(0.1, 0.9), (0.5, 0.3), (2.0, 0.0)])
def test_threshold_is_where_the_linear_map_loses_stability(optimizer, eta, beta):
    """At a = threshold one multiplier of the one-step matrix is -1 (to 1e-9: numpy eigvals of a 2x2 near a double
    root lose half the digits); 1 % below it every |mu| < 1, 1 % above it one |mu| > 1."""
    threshold = sharpness_threshold(optimizer, eta, beta)
    assert threshold == pytest.approx(float(CLOSED_FORMS[optimizer].subs({ETA: eta, BETA: beta})), rel=1e-15)
    matrix = one_step_matrix(optimizer, sp.Float(eta), sp.Float(beta), sp.Symbol("a"))

    def multipliers(a):
        return np.linalg.eigvals(np.array(matrix.subs("a", a), dtype=float))

    assert np.min(np.abs(multipliers(threshold) + 1)) < 1e-9
    assert np.max(np.abs(multipliers(0.99 * threshold))) < 1
    assert np.max(np.abs(multipliers(1.01 * threshold))) > 1


def test_threshold_errors():
    with pytest.raises(UnknownNameError, match="expected one of: gd, heavy-ball, nesterov, sgd, adam"):
        sharpness_threshold("lion", 0.1)
    with pytest.raises(DomainError):
        sharpness_threshold("heavy-ball", 0.1, 1.0)
    with pytest.raises(DomainError):
        sharpness_threshold("gd", -0.1)
    with pytest.raises(DomainError):
        load_model("uv-eos", optimizer="heavy-ball").fixed_points_at({"k": 1, "beta": 1})


def _test_characteristic_roots(optimizer, curvature, step, beta):
    """The multipliers of the optimizer on a quadratic of this curvature, from the characteristic polynomial written
    out in this test (independently of analysis.optimizers): heavy-ball mu^2 - (1 + beta - eta h) mu + beta;
    Nesterov mu^2 - (1 + beta - eta h (1 + beta)) mu + beta (1 - eta h)."""
    h, e, b = curvature, step, beta
    if optimizer == "heavy-ball":
        coefficients = [1, -(1 + b - e * h), b]
    else:
        coefficients = [1, -(1 + b - e * h * (1 + b)), b * (1 - e * h)]
    return np.sort_complex(np.roots(coefficients).astype(complex))


def _as_complex(value):
    return complex(value["re"], value["im"]) if isinstance(value, dict) else complex(value)


@pytest.mark.parametrize("optimizer", ["heavy-ball", "nesterov"])
@pytest.mark.parametrize("k, beta", [(0.7, 0.5), (1.3, 0.2), (0.4, 0.9)])
def test_fixed_point_multipliers_of_a_one_parameter_loss(optimizer, k, beta):
    """uv-eos, V(z) = k (z^2 - 1)^2 / 4 with unit step: with momentum the fixed points are (z*, v = 0) at the
    critical points z* = 0, +-1, and their multipliers are the roots of the optimizer's characteristic polynomial
    at the curvature V''(z*) = k (3 z*^2 - 1). Tolerance 1e-12: both sides are closed forms evaluated in floats."""
    table = load_model("uv-eos", optimizer=optimizer).fixed_points_at({"k": k, "beta": beta})
    assert sorted(p.coordinates["z"] for p in table) == [-1, 0, 1]
    for point in table:
        z = point.coordinates["z"]
        assert point.coordinates["v_z"] == 0
        expected = _test_characteristic_roots(optimizer, k * (3 * z ** 2 - 1), 1.0, beta)
        derived = np.sort_complex(np.array([_as_complex(mu) for mu in point.eigenvalues]))
        np.testing.assert_allclose(derived, expected, rtol=0, atol=1e-12)


def test_derived_map_threshold_and_state():
    uv = load_model("uv", "sp", optimizer="heavy-ball")
    assert [s.name for s in uv.model.state] == ["f", "lam", "f_v", "f_vv", "lam_v", "lam_vv"]
    assert sp.simplify(uv.threshold - CLOSED_FORMS["heavy-ball"]) == 0
    assert load_model("uv", "sp").threshold == 2 / ETA
    # the sharpness is the Hessian's, in (f, lam) only: the same closed form as for GD
    assert sp.simplify(uv.sharpness.expression - load_model("uv", "sp").sharpness.expression) == 0
    assert "vanishes identically" in uv.map.closure
    # One name on every model: two-input's target is y, its momentum beta; a user model with a parameter beta of
    # its own is refused with momentum (one line, exit status 2 from the command line).
    assert [p.name for p in load_model("two-input", optimizer="nesterov").model.parameters] == ["eta", "y", "s", "beta"]
    own_beta = dataclasses.replace(load_model("xy-quartic").model, name="own-beta", parameters=(
        Parameter("eta", ETA, "step", "positive"), Parameter("beta", sp.Symbol("beta", positive=True), "own", "positive")))
    with pytest.raises(UnsupportedOptionError, match="has a parameter named 'beta'"):
        own_beta.with_optimizer("heavy-ball")


def test_gd_cache_key_unchanged_by_the_option():
    """gd is the default and keyed as before; each momentum optimizer has its own key."""
    keys = {o: load_model("uv", "sp", optimizer=o).derivation.cache_key for o in OPTIMIZERS}
    assert keys["gd"] == load_model("uv", "sp").derivation.cache_key
    assert len(set(keys.values())) == 3


@pytest.mark.parametrize("optimizer, parameterization, widths", [
    ("heavy-ball", "sp", [1, 16, 512]), ("heavy-ball", "mup", [4, 64, 1024]),
    ("nesterov", "sp", [4, 256]), ("nesterov", "mup", [16, 512])])
def test_crosscheck_round_off_at_several_widths(optimizer, parameterization, widths):
    """Parameter-space momentum GD at finite width (numpy chain rule, and torch.optim.SGD when installed) against
    the derived 6-D map from the same state over 60 steps of a converging run (eta lam0 ~ 0.8): 1e-10 absolute
    (measured 1e-16 to 1e-13; the state is O(1)), sharpness relative 1e-10."""
    for width in widths:
        result = crosscheck(load_model("uv", parameterization, optimizer=optimizer),
                            values={"eta": "0.4", "y": "1", "beta": "0.6"}, width=width, steps=60, seed=width)
        payload = result.to_dict()
        assert payload["outcome"]["name"] == "completed"
        errors = {k: v for k, v in payload.items() if k.startswith("max_abs_error_")}
        assert len(errors) == 6 and max(errors.values()) < 1e-10, (width, errors)
        assert payload["max_rel_error_sharpness"] < 1e-10
        if "torch" in payload:
            assert max(payload["torch"].values()) < 1e-10, (width, payload["torch"])


def test_torch_sgd_agrees_with_the_numpy_momentum_rule():
    """torch.optim.SGD(momentum=beta, nesterov=...) on xy-quartic against the numpy rule written out in
    numerics.parameter_space and against the derived (x, y, v_x, v_y) map: 1e-13 over 200 steps (round-off of a
    bounded converging run)."""
    pytest.importorskip("torch")
    for optimizer in ("heavy-ball", "nesterov"):
        model = load_model("xy-quartic", optimizer=optimizer)
        runs = {}
        for backend in ("numpy", "torch"):
            gd = ParameterSpaceGD(model.model, "default", {"eta": 0.05, "beta": 0.8}, backend=backend)
            for _ in range(200):
                gd.step()
            runs[backend] = np.array(list(gd.state().values()))
        np.testing.assert_allclose(runs["torch"], runs["numpy"], rtol=0, atol=1e-13)
        result = crosscheck(model, values={"eta": "0.05", "beta": "0.8"}, steps=200)
        assert max(result.torch.values()) < 1e-12


def test_torch_sgd_refuses_an_initial_velocity():
    pytest.importorskip("torch")
    model = load_model("xy-quartic", optimizer="heavy-ball").model
    with pytest.raises(ValueError, match="velocity starts at 0"):
        ParameterSpaceGD(model, "default", {"eta": 0.05, "beta": 0.5}, initial={"v_x": 1}, backend="torch")


def test_momentum_run_hovers_at_its_own_threshold():
    """two-input (progressive sharpening, then self-stabilisation; eta = 0.5): under Nesterov with momentum 0.5 the
    sharpness rises to the Nesterov threshold 2(1 + beta)/(eta (1 + 2 beta)) = 3, has two edge-of-stability
    episodes with catapults there, and then stays just below 3 (steps 5000-20000 within 1 % below it: measured
    2.9803 to 2.9804), while GD's 2/eta = 4 is never reached (maximum 3.85, at a catapult spike)."""
    bound = IteratedMap(load_model("two-input", optimizer="nesterov"), values={"eta": 0.5, "beta": 0.5})
    assert bound.threshold == pytest.approx(3.0, rel=1e-15)
    run = bound.run(20000)
    sharpness = np.asarray(run.trajectory["sharpness"])
    late = sharpness[5000:]
    assert 0.99 * 3.0 <= late.min() and late.max() <= 3.0
    assert np.max(sharpness) < 4.0
    names = [r.name for r in run.regimes]
    assert names.count("edge of stability") >= 1 and "catapult" in names
    assert run.to_dict()["optimizer"] == "nesterov" and run.to_dict()["threshold"] == pytest.approx(3.0)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "numerics.cli", *args], capture_output=True, text=True, timeout=600)


def test_cli_optimizer_option():
    done = _cli("run", "uv-eos", "--optimizer", "heavy-ball", "--set", "k=0.5", "--set", "beta=0.5",
                "--steps", "200")
    assert done.returncode == 0, done.stderr
    # The threshold by its formula, (2 + 2 beta)/eta at the unit step of uv-eos; uv-eos has no eta, and its GD
    # threshold is a number (2, at its unit step), named as such.
    assert "(2*(beta + 1) = 3)" in done.stdout and not re.search(r"\beta\b", done.stdout)
    gd = _cli("run", "uv-eos", "--set", "k=0.5", "--steps", "200")
    assert gd.returncode == 0 and "(threshold = 2)" in gd.stdout and not re.search(r"\beta\b", gd.stdout)
    heavy = _cli("run", "uv", "--optimizer", "heavy-ball", "--set", "eta=0.5", "--set", "beta=0.5", "--set", "y=1",
                 "--set", "n=4", "--steps", "10")
    assert heavy.returncode == 0 and "(2*(beta + 1)/eta = 6)" in heavy.stdout
    bad = _cli("run", "uv-eos", "--optimizer", "lion", "--set", "k=0.5", "--steps", "10")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "expected one of: gd, heavy-ball, nesterov" in bad.stderr
    unstable = _cli("run", "uv-eos", "--optimizer", "nesterov", "--set", "k=0.5", "--set", "beta=1", "--steps", "10")
    assert unstable.returncode == 2 and "beta" in unstable.stderr


def test_report_section_runs_reproduce_from_their_commands(tmp_path):
    """The momentum section's UV runs carry the command that reproduces them: its JSON equals the record (exactly:
    the same compiled map from the same start), and each run's threshold is its optimizer's."""
    import json

    from numerics.report.momentum import momentum_figure, uv_momentum_runs

    runs = uv_momentum_runs(steps=60)
    thresholds = {o: r["result"]["threshold"] for o, r in runs.items()}
    assert thresholds == pytest.approx({o: sharpness_threshold(o, 0.9, 0.5) for o in OPTIMIZERS}, rel=1e-15)
    command = runs["nesterov"]["command"].split()[1:]
    done = _cli(*command)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["final"] == runs["nesterov"]["result"]["final"]
    momentum_figure({"uv": runs, "mlp": {"note": "no MLP in this test"}}, str(tmp_path / "momentum.png"))
    assert (tmp_path / "momentum.png").stat().st_size > 10_000


@pytest.mark.xdist_group("uv-heavy-ball")  # shares its cold derivation (tests/test_readme_cli.py)
def test_uv_fixed_points_under_heavy_ball():
    """UV (SP) under heavy-ball, eta = 0.5, n = 4 (kappa = x/sqrt(n) = 1/2), y = 1, beta = 1/2 (derivation: ~40 s cold).
    The GD points II, III at f = y -+ 2/(eta kappa) move to f = y -+ (2 + 2 beta)/(eta kappa) = -11, 13; the line of
    minima f = y (zero velocity) is reported where it loses stability, lam = (2 + 2 beta)/eta = 6, the heavy-ball
    threshold, with a multiplier -1. At the origin the state's multipliers are the products mu_i mu_j of the linear
    multipliers along u + v and u - v, the roots of mu^2 - (1 + beta -+ eta kappa y) mu + beta (computed here):
    beta twice (mu_1 mu_2) and the four squares. Tolerance 1e-12 (closed forms evaluated at 50 digits)."""
    table = load_model("uv", "sp", optimizer="heavy-ball").fixed_points_at({"eta": 0.5, "y": 1, "n": 4, "beta": 0.5})
    assert table["II"].coordinates["f"] == pytest.approx(-11, abs=1e-12)
    assert table["III"].coordinates["f"] == pytest.approx(13, abs=1e-12)
    line = table["IV"]
    assert line.coordinates["lam"] == pytest.approx(6, abs=1e-12) and line.coordinates["f"] == 1
    assert min(abs(_as_complex(mu) + 1) for mu in line.eigenvalues) < 1e-12
    expected = [0.5, 0.5]
    for sign in (1, -1):
        roots = np.roots([1, -(1 + 0.5 + sign * 0.5 * 0.5 * 1), 0.5]).astype(complex)
        expected += list(roots ** 2)
    derived = np.sort_complex(np.array([_as_complex(mu) for mu in table["I"].eigenvalues]))
    np.testing.assert_allclose(derived, np.sort_complex(np.array(expected)), rtol=0, atol=1e-12)


def _map_at_50_digits(model, values):
    """The derived function-space map as an mpmath function of the state at 60 digits (parameters bound)."""
    import mpmath

    mapping = model.result("function_map").images
    states = list(mapping)
    bound = [sp.sympify(mapping[s]).subs(values) for s in states]
    function = sp.lambdify(states, bound, "mpmath")
    return states, lambda point: mpmath.matrix(function(*point))


@pytest.mark.xdist_group("uv-nesterov")  # one cold derivation (~60 s) for every beta and the docs' example
@pytest.mark.parametrize("beta", [sp.Rational(9, 10), sp.Rational(1, 2), sp.Rational(3, 10)])  # 1/2: README
def test_uv_fixed_points_under_nesterov(beta):
    """UV (SP) under Nesterov, eta = 1/2, n = 4 (kappa = 1/2), y = 1 (derivation ~35 s cold; SymPy's own solve
    did not finish in 15 min, the resultant elimination does). Independent checks, at 60-digit mpmath:
    - every isolated fixed point satisfies F(s) = s to 1e-40 (the derived map, not the solver);
    - the two points with w' = -w (gradient = a* w, a* the Nesterov threshold (2 + 2 beta)/(eta (1 + 2 beta)),
      computed here) sit at f - y = -+ a*/kappa = -+ (2 + 2 beta)/(eta kappa (1 + 2 beta));
    - the eigenvalues, including the roots of the irreducible cubic (PolynomialRoot) at the two points
      f = y -+ (1 - beta)/(beta eta kappa), equal the eigenvalues of a central-difference Jacobian of the map
      (step 1e-20, error ~1e-40, mpmath.eig at 60 digits) to 1e-9: the table reports correctly rounded floats
      (~1e-15), and 1e-9 is what a wrong root (a neighbour's, or of the wrong factor) would exceed by far;
    - realizability: lam_vv = 2 kappa^2 (|p_u|^2 + |p_v|^2) cannot be negative, so a point with lam_vv < 0 must be
      reported not realizable, and the w' = -w points (u = -+ v, velocities along them) not so."""
    import mpmath

    model = load_model("uv", "sp", optimizer="nesterov")
    values = dict(eta=sp.Rational(1, 2), y=1, n=4, x=1, beta=beta)
    table = model.fixed_points_at(values)
    symbolic = model.bind(values)
    states, step = _map_at_50_digits(model, symbolic)
    kappa, eta = sp.Rational(1, 2), sp.Rational(1, 2)
    flipped = (2 + 2 * beta) / (eta * kappa * (1 + 2 * beta))
    extra = (1 - beta) / (beta * eta * kappa)
    expected_f = sorted([0, 1 - flipped, 1 + flipped, 1 - extra, 1 + extra])
    isolated = [p for p in table if p.line is None]
    assert sorted(p.coordinates["f"] for p in isolated) == pytest.approx([float(v) for v in expected_f], abs=1e-12)
    with mpmath.workdps(60):
        for point in isolated:
            exact = [sp.N(c, 60) for c in model.fixed_points.solutions[[q.label for q in table].index(point.label)]
                     .coordinates.values()]
            exact = [sp.N(c.subs(symbolic), 60) for c in exact]
            s = mpmath.matrix([mpmath.mpf(str(c)) for c in exact])
            assert mpmath.norm(step(s) - s) < mpmath.mpf(10) ** -40
            h = mpmath.mpf(10) ** -20
            jac = mpmath.matrix(len(states), len(states))
            for j in range(len(states)):
                e = mpmath.matrix(len(states), 1)
                e[j] = h
                column = (step(s + e) - step(s - e)) / (2 * h)
                for i in range(len(states)):
                    jac[i, j] = column[i]
            reference = sorted((complex(mu) for mu in mpmath.eig(jac)[0]), key=lambda z: (round(z.real, 9), z.imag))
            derived = sorted((_as_complex(mu) for mu in point.eigenvalues), key=lambda z: (round(z.real, 9), z.imag))
            np.testing.assert_allclose(derived, reference, rtol=0, atol=1e-9)
            lam_vv = point.coordinates["lam_vv"]
            if lam_vv < 0 or point.coordinates["lam"] < 0:
                assert point.realizable is False, point.label
    for sign in (-1, 1):
        # u = -+ v and the velocities along them: a rank-one Gram matrix, where max_t lambda_min(G(t)) is exactly 0
        # at a single completion. The numerical bracket cannot certify that from below, so it must not say False.
        w_flip = next(p for p in isolated if abs(p.coordinates["f"] - float(1 + sign * flipped)) < 1e-12)
        assert w_flip.realizable is not False
    assert any(mu.__class__.__name__ == "PolynomialRoot" for entry in model.stability.points
               for mu in entry.eigenvalues)


def _uv_momentum_state(spec, definitions, vectors, values):
    """The momentum UV state of explicit vectors u, v, p_u, p_v (the Gram entries computed here with numpy)."""
    names = spec.all_vectors
    gram = {spec.gram_symbol(i, j): sp.Float(float(vectors[names[i]] @ vectors[names[j]]), 30)
            for i in range(len(names)) for j in range(i, len(names))}
    return {s: e.subs(gram).subs(values) for s, e in definitions.items()}


@pytest.mark.parametrize("optimizer", ["heavy-ball", "nesterov"])
def test_momentum_uv_realizability(optimizer):
    """A momentum UV state leaves four Gram entries free (|v|^2, v.p_u, v.p_v, |p_v|^2); realizable means some
    choice of them makes the 4x4 Gram matrix PSD. Decided independently here:
    - states of 30 random seeded vectors u, v, p_u, p_v in R^4 are realizable (True);
    - each of three necessary conditions, proved here by Cauchy-Schwarz, violated by 1 % gives False:
      lam >= 2 kappa |f|, lam_vv >= 2 kappa |f_vv| (the same for the velocities) and
      |lam_v| <= sqrt(2 lam lam_vv) (|u.p_u + v.p_v| <= sqrt((|u|^2 + |v|^2)(|p_u|^2 + |p_v|^2))),
      with the other coordinates kept from a realizable state."""
    from analysis.evaluate import realizable

    model = load_model("uv", "sp", optimizer=optimizer)
    derivation = model.derivation
    definitions = derivation.result("state_definitions").definitions
    values = model.bind({"eta": 0.5, "n": 4, "x": 1, "y": 1, "beta": 0.5})
    rng = np.random.default_rng(13)
    for _ in range(30):
        vectors = {name: rng.normal(size=4) for name in derivation.spec.all_vectors}
        assert realizable(derivation, _uv_momentum_state(derivation.spec, definitions, vectors, values), values) is True
    vectors = {name: rng.normal(size=4) for name in derivation.spec.all_vectors}
    state = _uv_momentum_state(derivation.spec, definitions, vectors, values)
    f, lam, f_v, f_vv, lam_v, lam_vv = list(definitions)
    kappa = 0.5
    for changed in ({lam: 0.99 * 2 * kappa * abs(state[f])},
                    {lam_vv: 0.99 * 2 * kappa * abs(state[f_vv])},
                    {lam_v: 1.01 * np.sign(float(state[lam_v])) * np.sqrt(2 * float(state[lam] * state[lam_vv]))}):
        assert realizable(derivation, {**state, **changed}, values) is False, changed
    # At rest (every run starts with zero velocity): lam_vv = 0 forces p_u = p_v = 0, where max lambda_min is
    # exactly 0; face reduction decides it. Realizable iff lam >= 2 kappa |f| (boundary included), at any scale.
    at_rest = {s: 0.0 for s in definitions}
    for f_value, lam_value, expected in ((0.1, 1.0, True), (1.0, 1.0, True), (1.0, 0.999, False),
                                         (1e-6, 3e-6, True), (-2.0, 1.9, False)):
        assert realizable(derivation, {**at_rest, f: f_value, lam: lam_value}, values) is expected, (f_value, lam_value)
    # near rest: real velocities of size 1e-5, 1e-6 (the PSD slack sqrt(delta) >> tolerance must not read as False)
    for size in (1e-5, 1e-6):
        vectors = {name: rng.normal(size=4) * (size if name.startswith("p") else 1) for name in derivation.spec.all_vectors}
        assert realizable(derivation, _uv_momentum_state(derivation.spec, definitions, vectors, values), values) is not False
    # states of small vectors (1e-4) are decided as those of unit ones (the tolerance is relative to the trace)
    for _ in range(10):
        vectors = {name: 1e-4 * rng.normal(size=4) for name in derivation.spec.all_vectors}
        assert realizable(derivation, _uv_momentum_state(derivation.spec, definitions, vectors, values), values) is True
    # width 1 < 4 vectors: a PSD completion is no proof (rank is not checked), so True becomes undetermined
    narrow = model.bind({"eta": 0.5, "n": 1, "x": 1, "y": 1, "beta": 0.5})
    vectors = {name: rng.normal(size=4) for name in derivation.spec.all_vectors}
    assert realizable(derivation, _uv_momentum_state(derivation.spec, definitions, vectors, narrow), narrow) is None


def test_momentum_uv_init_is_checked_for_realizability():
    """--init of a momentum UV run: lam_vv < 0 (a negative sum of squares) is refused in one line, exit 2."""
    done = _cli("run", "uv", "--optimizer", "heavy-ball", "--set", "eta=0.5", "--set", "beta=0.5", "--set", "y=1",
                "--set", "n=4", "--set", "x=1", "--init", "f=0.1", "--init", "lam=1", "--init", "lam_vv=-0.5",
                "--steps", "10")
    assert done.returncode == 2 and "realizable" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_polynomial_root_is_exact_and_survives_the_cache(tmp_path):
    """PolynomialRoot: the three roots of t^3 - c t - 1 at c = 3 against numpy.roots (1e-12: a simple root,
    float reference), in CRootOf's order (real ascending); a result holding one goes through the restricted
    unpickler of the cache unchanged; edge cases below."""
    from analysis import cache
    from analysis.derivations.common import EIGENVALUE as t
    from analysis.derivations.spectrum import PolynomialRoot

    c = sp.Symbol("c", positive=True)
    roots = [PolynomialRoot(t ** 3 - c * t - 1, k) for k in range(3)]
    assert all(mu.free_symbols == {c} for mu in roots)
    derived = [float(sp.N(mu.subs(c, 3), 30)) for mu in roots]
    np.testing.assert_allclose(derived, np.sort(np.roots([1, 0, -3, -1]).real), rtol=0, atol=1e-12)
    import pickle
    cache.store(tmp_path, "key", "r", pickle.dumps(roots))
    assert cache.load(tmp_path, "key", "r") == roots
    # a triple root (mpmath's polyroots does not converge; the companion matrix at 3x the precision does), the
    # degree dropping at the parameters (that root does not exist: nan), and t bound (subs leaves it alone)
    triple = [float(sp.N(PolynomialRoot(t ** 3 - 3 * t ** 2 + c * t - 1, k).subs(c, 3), 15)) for k in range(3)]
    np.testing.assert_allclose(triple, [1, 1, 1], rtol=0, atol=1e-13)
    assert sp.N(PolynomialRoot(c * t ** 3 + t - 1, 2).subs(c, 0)) is sp.nan
    assert float(sp.N(PolynomialRoot(c * t ** 3 + t - 1, 0).subs(c, 0))) == 1.0
    assert roots[0].subs(t, 5) == roots[0]
    # a double root with non-dyadic coefficients, (t - 1/3)^2 (t + 2), to 50 digits and real (it came out with an
    # imaginary part of 6e-35 at the plain working precision)
    double = [sp.N(PolynomialRoot(sp.expand((t - sp.Rational(1, 3)) ** 2 * (t + 2)), k), 50) for k in range(3)]
    assert all(abs(sp.im(v)) < 1e-45 for v in double)
    assert abs(double[1] - sp.Rational(1, 3)) < 1e-45 and abs(double[2] - sp.Rational(1, 3)) < 1e-45


@pytest.mark.parametrize("name, values", [("two-input", dict(eta=0.5, beta=0.5, y=1, s=0.3)),
                                          ("xy-quartic", dict(eta=0.3, beta=0.7)),
                                          ("uv-eos", dict(k=1.2, beta=0.4)),
                                          ("product", dict(eta=0.4, y=1, beta=0.6))])
@pytest.mark.parametrize("optimizer", ["heavy-ball", "nesterov"])
def test_coordinate_momentum_multipliers_against_the_full_jacobian(name, values, optimizer):
    """Coordinate models: the multipliers are derived from the Hessian's eigenvalues h and the optimizer's
    characteristic polynomial chi(mu; h) (the 2d x 2d Jacobian's own eigenvalues took SymPy > 300 s on two-input).
    Independent route: the derived Jacobian of the map, evaluated at each reported point with mpmath at 60 digits,
    and its eigenvalues by mpmath.eig; equal as multisets to 1e-9 (the table holds correctly rounded floats; a
    wrong h or a wrong root is off by far more). Parameters are chosen so that the points are not degenerate."""
    import mpmath

    model = load_model(name, optimizer=optimizer)
    table = model.fixed_points_at(values)
    symbolic = model.bind(values)
    states = [s.symbol for s in model.model.state]
    jacobian = sp.lambdify(states, model.jacobian.matrix.subs(symbolic), "mpmath")
    with mpmath.workdps(60):
        for point in table:
            at = [mpmath.mpf(repr(point.coordinates[s.name])) for s in model.model.state]
            reference = sorted((complex(mu) for mu in mpmath.eig(mpmath.matrix(jacobian(*at)))[0]),
                               key=lambda z: (round(z.real, 9), round(z.imag, 9)))
            derived = sorted((_as_complex(mu) for mu in point.eigenvalues),
                             key=lambda z: (round(z.real, 9), round(z.imag, 9)))
            np.testing.assert_allclose(derived, reference, rtol=0, atol=1e-9, err_msg=f"{name} {point.label}")


def test_polynomial_root_latex():
    """A root of an irreducible cubic is typeset as root_k[q(t)], q in falling powers of t with factored
    coefficients and the signs pulled out (a negative Add coefficient in parentheses)."""
    from analysis.derivations.common import EIGENVALUE as t
    from analysis.derivations.spectrum import PolynomialRoot
    from analysis.latex import to_latex

    b, n = sp.symbols("beta n", positive=True)
    mu = PolynomialRoot(b ** 2 * sp.sqrt(n) * t ** 3 - (1 + b) * t ** 2 + 3 * t - b * n - 1, 0)
    assert to_latex(mu) == (r"\operatorname{root}_{1}\left[\beta^{2} \sqrt{n} t^{3} - \left(\beta + 1\right) t^{2}"
                            r" + 3 t - \left(\beta n + 1\right)\right]")


def test_cascade_reads_polynomial_root_eigenvalues():
    """cascade on UV under Nesterov: the eigenvalues of II and III include roots of a cubic, where a flip is
    q(-1) = 0; at these parameters no isolated point flips while attracting (all are saddles or unrealizable:
    test_uv_fixed_points_under_nesterov), so the answer is the one-line explanation, exit 2, not a traceback."""
    done = _cli("cascade", "uv", "--optimizer", "nesterov", "--set", "beta=0.5", "--set", "y=1", "--set", "n=4",
                "--vary", "eta", "--doublings", "3")
    assert done.returncode == 2 and "no isolated fixed point" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_line_attraction_conditions_under_momentum():
    """two-input under heavy-ball (eta = 1/2, momentum 1/2, target 1, s = 1/20): on the set of minima a w1 = 1, w2 = 0
    the derived conditions for transverse attraction hold at a = 1 and fail at a = 3/10 (a^2 + 1/a^2 = 11.2 > 6 =
    (2 + 2 beta)/eta). Independent route: the eigenvalues of the derived Jacobian by mpmath at 40 digits; at a = 1
    every multiplier but the neutral one (1 along the set, to 1e-30) lies inside the unit disc, at a = 3/10 one
    lies outside. No condition is the constant False of the neutral direction h = 0."""
    import mpmath

    model = load_model("two-input", optimizer="heavy-ball")
    values = model.bind({"eta": sp.Rational(1, 2), "beta": sp.Rational(1, 2)})
    line = next(e for e in model.stability.points if e.kind == "line" and e.label == "II")
    a = sp.Symbol("a", real=True)
    jacobian = sp.lambdify([s.symbol for s in model.model.state], model.jacobian.matrix.subs(values),
                           "mpmath")
    assert sp.false not in line.attracting_if
    for at, attracting in ((sp.Integer(1), True), (sp.Rational(3, 10), False)):
        holds = all(bool(condition.subs(values).subs(a, at)) for condition in line.attracting_if)
        assert holds is attracting
        with mpmath.workdps(40):
            state = [at, 1 / at, 0, 0, 0, 0]
            moduli = sorted(abs(mu) for mu in mpmath.eig(mpmath.matrix(jacobian(*[mpmath.mpf(sp.N(v, 50)) for v in state])))[0])
            neutral = min(range(len(moduli)), key=lambda i: abs(moduli[i] - 1))
            assert abs(moduli[neutral] - 1) < mpmath.mpf(10) ** -30
            others = [m for i, m in enumerate(moduli) if i != neutral]
            assert (max(others) < 1) is attracting


@pytest.mark.parametrize("optimizer", ["heavy-ball", "nesterov"])
def test_uv_momentum_line_flip_boundary(optimizer):
    """On the UV line of minima f = y (any lam) the transverse multiplier reaches -1 where eta lam equals the
    optimizer's threshold times eta: eta_flip = (2 + 2 beta)/lam (heavy-ball) and (2 + 2 beta)/((1 + 2 beta) lam)
    (Nesterov), the closed forms of Cohen et al. typed in this file. Exact comparison (SymPy simplify to 0); and
    numerically, the derived Jacobian's eigenvalues at lam = 6, beta = 1/2 include -1 at that eta (1e-12).
    (The boundary used to come out squared, 4 (1 + beta)^2 / lam^2, with a spurious fold at eta = 0.)"""
    model = load_model("uv", "sp", optimizer=optimizer)
    lam = sp.Symbol("lam", positive=True)
    line = next(e for e in model.stability.points if e.kind == "line")
    flips = [b.value for b in line.boundaries if b.kind == "flip"]
    expected = CLOSED_FORMS[optimizer].subs(ETA, 1) / lam
    assert any(sp.simplify(value.subs({s: lam for s in value.free_symbols if s.name == "lam"}) - expected) == 0
               for value in flips), flips
    assert all(b.value != 0 for b in line.boundaries)
    eta_flip = float(expected.subs({BETA: sp.Rational(1, 2), lam: 6}))
    values = model.bind({"eta": eta_flip, "y": 1, "n": 4, "x": 1, "beta": 0.5})
    states = [s.symbol for s in model.model.state]
    point = {states[0]: 1, states[1]: 6, **{s: 0 for s in states[2:]}}
    jacobian = np.array(model.jacobian.matrix.subs(values).subs(point), dtype=float)
    assert min(abs(np.linalg.eigvals(jacobian) + 1)) < 1e-12
