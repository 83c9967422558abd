"""Issue 22: models with examples, mini-batch SGD's mean-square stability, Adam's map and its frozen-preconditioner
threshold. Each result is checked by an independent route (closed forms typed here only to be compared, Monte Carlo
over batches, numpy roots, torch.optim.Adam)."""
import math

import numpy as np
import pytest
import sympy as sp

from analysis import CoordinateModel, get_model, load_model
from analysis.errors import DomainError, UnsupportedOptionError, UserInputError
from analysis.optimizers import (BETA1, CURVATURE, ETA, MULTIPLIER, characteristic_polynomial, sharpness_threshold,
                                 threshold_expression)
from analysis.stochastic import batches, mean_square_operator, mean_square_threshold
from numerics import IteratedMap
from numerics import stochastic

# Two examples of different curvature on one parameter: L_1 = (w - 1)^2/2 (h = 1), L_2 = 2 (w - 1)^2 (h = 4).
TWO_CURVATURES = "(w - 1)^2/2; 2*(w - 1)^2"


# ------------------------------------------------------------------------------------------------ examples
def test_coordinate_model_loss_defaults_to_the_mean_of_its_examples():
    w = sp.Symbol("w", real=True)
    eta = sp.Symbol("eta", positive=True)
    spec = CoordinateModel(examples=((w - 1) ** 2, (w + 1) ** 2), step=eta, state=(w,))
    assert sp.expand(spec.loss - (w ** 2 + 1)) == 0
    assert spec.example_losses == ((w - 1) ** 2, (w + 1) ** 2)
    with pytest.raises(UserInputError, match="mean of the examples"):
        CoordinateModel(loss=w ** 2, examples=((w - 1) ** 2, (w + 1) ** 2), step=eta, state=(w,))
    with pytest.raises(UserInputError, match="loss= or examples="):
        CoordinateModel(step=eta, state=(w,))


def test_two_input_declares_its_two_examples_whose_mean_is_the_former_loss():
    spec = get_model("two-input").describe("default")
    a, w1, w2, y, s = sp.symbols("a w1 w2 y s", real=True)
    names = {sym.name: sym for sym in spec.loss.free_symbols}
    a, w1, w2, y, s = (names[n] for n in ("a", "w1", "w2", "y", "s"))
    assert len(spec.examples) == 2
    # the loss of the model's docstring: (a w1 - y)^2/2 + s^2 a^2 w2^2/2
    assert sp.expand(spec.loss - ((a * w1 - y) ** 2 / 2 + s ** 2 * a ** 2 * w2 ** 2 / 2)) == 0


def test_product_loss_with_semicolons_declares_examples():
    model = get_model("product", loss=TWO_CURVATURES)
    spec = model.describe("default")
    w = next(iter(spec.loss.free_symbols))
    assert len(spec.examples) == 2
    assert sp.expand(spec.loss - 5 * (w - 1) ** 2 / 4) == 0
    with pytest.raises(UserInputError, match="empty example"):
        get_model("product", loss="(w-1)^2;")


def test_sgd_refusals_say_why():
    with pytest.raises(UnsupportedOptionError, match="Gram model"):
        get_model("uv", optimizer="sgd", batch_size=1)
    with pytest.raises(DomainError, match="between 1 and 2"):
        get_model("two-input", optimizer="sgd", batch_size=3)
    with pytest.raises(UnsupportedOptionError, match="batch"):
        get_model("two-input", optimizer="sgd")
    with pytest.raises(UnsupportedOptionError, match="sgd"):
        get_model("two-input", batch_size=1)
    with pytest.raises(UnsupportedOptionError, match="Gram model"):
        get_model("uv", optimizer="adam")


# ------------------------------------------------------------------------------------------------ mean square
def test_one_parameter_mean_square_threshold_equals_its_closed_form():
    """Curvatures 1 and 4, one per batch (B = 1): eta* = 2 E[h]/E[h^2] = 2 * 5/2 / (17/2) = 10/17, below GD's
    2/E[h] = 4/5. Exact in the derivation; the float pencil at given values agrees to 1e-12 (one 2x2 generalized
    eigenproblem in float64); E[(1 - eta h)^2] written out crosses 1 there."""
    derived = load_model("product", loss=TWO_CURVATURES, optimizer="sgd", batch_size=1)
    result = derived.result("mean_square")
    assert result.threshold == sp.Rational(10, 17)
    assert result.at_fixed_points == {"I": sp.Rational(10, 17)}
    table = derived.fixed_points_at({"eta": 0.5})
    info = table["I"].mean_square
    assert info.eta == pytest.approx(10 / 17, rel=1e-12)
    assert info.closed_form == pytest.approx(10 / 17, rel=1e-12)
    assert info.gd_eta == pytest.approx(0.8, rel=1e-12)
    assert info.spectral_radius == pytest.approx(((1 - 0.5) ** 2 + (1 - 2.0) ** 2) / 2, rel=1e-12)
    second_moment = lambda eta: ((1 - eta) ** 2 + (1 - 4 * eta) ** 2) / 2  # noqa: E731 - the definition
    assert second_moment(10 / 17 * (1 - 1e-6)) < 1 < second_moment(10 / 17 * (1 + 1e-6))
    # B = 2 is full batch: the mean-square threshold is GD's
    full = load_model("product", loss=TWO_CURVATURES, optimizer="sgd", batch_size=2)
    assert full.fixed_points_at({"eta": 0.5})["I"].mean_square.eta == pytest.approx(0.8, rel=1e-12)


def _minimum_of_two_input():
    derived = load_model("two-input", optimizer="sgd", batch_size=1)
    values = derived.bind({"eta": 0.4, "s": sp.Rational(1, 2)})
    a = sp.Rational(6, 5)
    names = {s.name: s.symbol for s in derived.model.state}
    point = {names["a"]: a, names["w1"]: 1 / a, names["w2"]: sp.Integer(0)}  # a w1 = y = 1, w2 = 0
    return derived, values, point


def test_second_moment_map_agrees_with_monte_carlo_over_batches():
    """T(X) = E_B[A_B X A_B^T] from the derived batch Hessians against a Monte Carlo mean over 20000 seeded batch
    draws of A_B X A_B^T, with A_B the Jacobian of each derived batch map by central differences (an independent
    route to I - eta H_B). Tolerance: 5 Monte Carlo standard errors per entry plus the difference error (1e-6)."""
    derived, values, point = _minimum_of_two_input()
    result = derived.result("mean_square")
    states = [s.symbol for s in derived.model.state]
    at = {**values, **point}
    hessians = [np.array(sp.N(h.subs(at), 30).tolist(), dtype=float) for h in result.batch_hessians]
    operator = mean_square_operator(hessians, 0.4)
    x0 = np.array([[1.0, 0.3, -0.2], [0.3, 0.5, 0.1], [-0.2, 0.1, 0.8]])
    predicted = (operator @ x0.reshape(-1)).reshape(3, 3)

    def jacobian(image, step=1e-5):
        f = sp.lambdify(states, [image[s].subs(values) for s in states], "math")
        base = [float(point[s]) for s in states]
        columns = []
        for i in range(3):
            up, down = list(base), list(base)
            up[i] += step
            down[i] -= step
            columns.append((np.array(f(*up)) - np.array(f(*down))) / (2 * step))
        return np.array(columns).T

    matrices = [jacobian(image) for image in result.batch_maps]
    draws = np.random.default_rng(0).integers(len(matrices), size=20000)
    samples = np.array([matrices[b] @ x0 @ matrices[b].T for b in draws])
    estimate, error = samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(len(draws))
    assert np.all(np.abs(estimate - predicted) <= 5 * error + 1e-6)


def test_mean_square_threshold_is_where_the_spectral_radius_crosses_one():
    """Several transverse directions: the pencil's threshold is where rho(T) of the operator built directly
    crosses 1 (bisection-free: just below and just above, 1e-6 relative)."""
    derived, values, point = _minimum_of_two_input()
    info = derived.fixed_points_at({"eta": 0.4, "s": "1/2"})
    line = next(p for p in info if p.mean_square is not None and p.mean_square.reason is None)
    result = derived.result("mean_square")
    at = {**values, **point}
    hessians = [np.array(sp.N(h.subs(at), 30).tolist(), dtype=float) for h in result.batch_hessians]
    # the neutral direction (along the curve of minima) has multiplier 1 in every A_B: restrict to the others
    _, _, right = np.linalg.svd(np.vstack(hessians))
    basis = right[:2].T
    reduced = [basis.T @ h @ basis for h in hessians]
    threshold = mean_square_threshold(reduced)
    radius = lambda step: np.max(np.abs(np.linalg.eigvals(mean_square_operator(reduced, step))))  # noqa: E731
    assert radius(threshold * (1 - 1e-6)) < 1 < radius(threshold * (1 + 1e-6))
    assert threshold < 2 / np.linalg.eigvalsh(np.mean(reduced, axis=0))[-1]  # stricter than GD (Jensen)
    assert line.mean_square.neutral == 1


def test_batches_are_every_subset():
    assert batches(4, 2) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


# ------------------------------------------------------------------------------------------------ SGD runs
def test_sgd_lyapunov_exponent_of_the_random_product():
    """One parameter at its minimum: the exponent is E[log|1 - eta h_B|] = (log 0.5 + log 1)/2 at eta = 0.5, exactly;
    the estimate is within 4 of its batch-means standard errors."""
    bound = IteratedMap(load_model("product", loss=TWO_CURVATURES, optimizer="sgd", batch_size=1), {"eta": 0.5})
    spectrum = stochastic.lyapunov(bound, steps=20000, transient=100, seed=3)
    exact = (math.log(0.5) + math.log(1.0)) / 2
    assert abs(spectrum.exponents[0] - exact) <= 4 * spectrum.stderr[0]


def test_sgd_run_outcomes_are_judged_in_distribution():
    interpolating = IteratedMap(load_model("product", loss=TWO_CURVATURES, optimizer="sgd", batch_size=1),
                                {"eta": 0.5})
    assert stochastic.run(interpolating, 4000, seed=1).outcome.name == "converged"
    # eta = 0.7 > eta*_MS = 10/17 yet E[log|1 - eta h|] = (log 0.3 + log 1.8)/2 < 0: the second moment grows while
    # almost every path converges (mean-square stability is the stricter notion)
    assert stochastic.run(interpolating.with_values({"eta": 0.7}), 4000, seed=1).outcome.name == "converged"
    # far beyond: |1 - eta h| > 1 for both examples
    assert stochastic.run(interpolating.with_values({"eta": 2.0}), 4000, seed=1).outcome.name == "diverged"
    # no common minimum: (w - 1)^2/2 and (w + 1)^2/2 pull apart, SGD fluctuates in a stationary distribution
    noisy = IteratedMap(load_model("product", loss="(w - 1)^2/2; (w + 1)^2/2", optimizer="sgd", batch_size=1),
                        {"eta": 0.1})
    outcome = stochastic.run(noisy, 40000, seed=2).outcome
    assert outcome.name == "stationary"
    # stationary law of w' = (1 - eta) w + eta xi, xi = +-1: E[w^2] = eta/(2 - eta), so E[L] = 1/2 + E[w^2]/2
    assert abs(outcome.mean_loss - (0.5 + 0.1 / (2 - 0.1) / 2)) <= 5 * outcome.mean_loss_stderr


def test_sgd_runs_are_reproducible_by_seed():
    bound = IteratedMap(load_model("product", loss="(w - 1)^2/2; (w + 1)^2/2", optimizer="sgd", batch_size=1),
                        {"eta": 0.1})
    first, again, other = (stochastic.run(bound, 500, seed=s).final["w"] for s in (4, 4, 5))
    assert first == again != other


# ------------------------------------------------------------------------------------------------ Adam
def test_adam_threshold_is_where_a_root_of_the_frozen_map_crosses_the_unit_circle():
    """The frozen map of Cohen et al. 2022 written out here, (theta, m) -> (theta - eta m', m'),
    m' = beta1 m + (1 - beta1) a theta: numpy's roots of its characteristic polynomial have modulus < 1 just below the
    derived threshold and > 1 just above (1e-6 relative), at several (eta, beta1), RMSProp (beta1 = 0) included."""
    assert sp.simplify(threshold_expression("adam") - (2 + 2 * BETA1) / ((1 - BETA1) * ETA)) == 0
    assert sp.simplify(threshold_expression("adam").subs(BETA1, 0) - 2 / ETA) == 0  # RMSProp: GD's form
    for eta, beta1 in ((0.1, 0.9), (0.01, 0.5), (0.3, 0.0), (1.0, 0.99)):
        threshold = sharpness_threshold("adam", eta, beta1)
        for factor, inside in ((1 - 1e-6, True), (1 + 1e-6, False)):
            a = threshold * factor
            matrix = np.array([[1 - eta * (1 - beta1) * a, -eta * beta1], [(1 - beta1) * a, beta1]])
            roots = np.roots(np.poly(matrix))
            assert (np.max(np.abs(roots)) < 1) == inside
    # and the derived polynomial is the written-out matrix's
    mu, a = MULTIPLIER, CURVATURE
    written = sp.Matrix([[1 - ETA * (1 - BETA1) * a, -ETA * BETA1], [(1 - BETA1) * a, BETA1]])
    assert sp.expand(characteristic_polynomial("adam") - (mu * sp.eye(2) - written).det()) == 0


def test_adam_map_equals_torch_optim_adam():
    """The derived map (w, m, v, t), iterated in float64 by its compiled numpy function, against torch.optim.Adam
    on the same loss written in torch, 300 steps from the model's start: equal to round-off (1e-12 relative,
    a few hundred ulps accumulated over 300 steps; the two evaluate the same formula in different orders)."""
    torch = pytest.importorskip("torch")
    derived = load_model("product", optimizer="adam")
    bound = IteratedMap(derived, {"eta": 0.05, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8})
    state = bound.initial_state()
    theta = torch.tensor([0.5, 0.6], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([theta], lr=0.05, betas=(0.9, 0.99), eps=1e-8)
    names = bound.compiled.state_names
    for step in range(300):
        state = np.array(bound.compiled.step_numpy(*state, *bound._params), dtype=float)
        optimizer.zero_grad()
        loss = (theta[0] * theta[1] - 1.0) ** 2 / 2
        loss.backward()
        optimizer.step()
        exp_avg = optimizer.state[theta]["exp_avg"].detach().numpy()
        exp_avg_sq = optimizer.state[theta]["exp_avg_sq"].detach().numpy()
        ours = dict(zip(names, state))
        np.testing.assert_allclose([ours["theta1"], ours["theta2"]], theta.detach().numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose([ours["m_theta1"], ours["m_theta2"]], exp_avg, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose([ours["v_theta1"], ours["v_theta2"]], exp_avg_sq, rtol=1e-12, atol=1e-18)
        assert ours["t"] == step + 1


def test_adam_sharpness_is_the_preconditioned_one():
    """The run's sharpness under Adam is lambda_max(P^-1 H), P = diag(sqrt(v/(1 - beta2^t)) + eps), computed here
    with numpy from the same state (1e-10 relative: one 2x2 eigenproblem)."""
    bound = IteratedMap(load_model("product", optimizer="adam"), {"eta": 0.05})
    state = bound.initial_state()
    for _ in range(5):
        state = np.array(bound.compiled.step_numpy(*state, *bound._params), dtype=float)
    th1, th2, _, _, v1, v2, t = state
    hessian = np.array([[th2 ** 2, 2 * th1 * th2 - 1], [2 * th1 * th2 - 1, th1 ** 2]])
    p = np.sqrt(np.array([v1, v2]) / (1 - 0.999 ** t)) + 1e-8
    expected = np.max(np.linalg.eigvals(np.diag(1 / p) @ hessian).real)
    measured = float(bound.compiled.sharpness_numpy(*state, *bound._params))
    assert measured == pytest.approx(expected, rel=1e-10)
    assert bound.threshold == pytest.approx(38 / 0.05)


def test_adam_has_no_fixed_points_and_says_why():
    table = load_model("product", optimizer="adam").fixed_points_at({"eta": 0.1})
    assert len(table) == 0 and table.complete and "counter" in table.reason


def test_mean_square_threshold_is_exported_to_latex():
    text = load_model("product", loss=TWO_CURVATURES, optimizer="sgd", batch_size=1).latex(only="mean_square")
    assert r"\eta^\ast_{\mathrm{MS}} = \frac{10}{17}" in text


def test_sgd_requests_write_themselves_back_with_batch_size_and_seed():
    from numerics.cli.parser import build_parser
    from numerics.requests import LyapunovRequest, Problem, RunRequest

    problem = Problem("product", values={"eta": "0.5"}, loss=TWO_CURVATURES, optimizer="sgd", batch_size=1)
    for request in (RunRequest(problem, steps=100, seed=3), LyapunovRequest(problem, steps=100, seed=3)):
        args = build_parser().parse_args(request.to_argv())
        assert args.request(args) == request
    with pytest.raises(UserInputError, match="--seed"):
        RunRequest(Problem("uv-eos"), steps=10, seed=1)


def test_rmsprop_runs_with_its_threshold_two_over_eta():
    """beta1 = 0 (RMSProp): the run completes (the counter's Jacobian column is a constant's, no log(beta1)) and is
    compared with 2/eta on the preconditioned sharpness."""
    bound = IteratedMap(load_model("product", optimizer="adam"), {"eta": 0.05, "beta1": 0})
    trajectory = bound.run(200)
    assert bound.threshold == pytest.approx(2 / 0.05)
    assert trajectory.outcome.name != "diverged" and trajectory.final["t"] == 200
    assert math.isnan(trajectory.trajectory["sharpness"][0])  # P is undefined before the first step (t = 0)
