"""The central-flow derivations (``grad_sharpness``, ``central_flow``) against independent routes: finite
differences of the derived sharpness, parameter-space gradients of the state at a finite width, and the closed
form of the one-dimensional normal form worked by hand."""
import numpy as np
import pytest
import sympy as sp

from analysis import load_model
from numerics.central_flows import _Field
from numerics.compile import compile_model


def _finite_difference_gradient(function, x, step=1e-5):
    """Central differences: truncation error O(step^2 S''') ~ 1e-10 and round-off O(eps S / step) ~ 1e-11 for O(1)
    sharpness, hence the 1e-7 tolerances below."""
    gradient = np.empty_like(x)
    for i in range(x.size):
        offset = np.zeros_like(x)
        offset[i] = step
        gradient[i] = (function(x + offset) - function(x - offset)) / (2 * step)
    return gradient


@pytest.mark.parametrize("model,parameterization,values", [
    ("xy-quartic", None, {"eta": 0.4}),
    ("product", None, {"eta": 0.3, "y": 1}),
    ("uv", "mup", {"eta": 1.0, "y": 1, "n": 4}),
    ("uv", "sp", {"eta": 0.7, "y": 1.3, "n": 6, "x": 0.8}),
    ("two-input", None, {"eta": 0.5}),  # no closed-form sharpness: the D^3L[u, u, .] contraction
])
def test_grad_sharpness_against_finite_differences(model, parameterization, values):
    derived = load_model(model, parameterization)
    flow_field = _Field(derived, derived.model.bind_values(values))
    rng = np.random.default_rng(1)
    checked = 0
    while checked < 6:
        x = rng.uniform(0.3, 1.6, size=len(flow_field.names))
        if derived.kind == "gram":
            x[1] = 2.0 + 3 * x[1]  # lam large enough for the state to be realizable (lam >= 2 kappa |f|)
        top = flow_field.sharpness(x)
        if not flow_field.second_eigenvalue(x) < top - 1e-2 * abs(top):  # S is smooth only where it is simple
            continue
        numeric = _finite_difference_gradient(flow_field.sharpness, x)
        np.testing.assert_allclose(flow_field._grad_sharpness(x), numeric, rtol=1e-6, atol=1e-7 * (1 + abs(top)))
        checked += 1


def test_uv_eos_multiplier_by_hand():
    """L = k (z^2 - 1)^2 / 4, S = k (3 z^2 - 1): sigma^2 = -2 L' S' / S'^2 = -2 k z (z^2 - 1) / (6 k z) = (1 - z^2)/3."""
    flow = load_model("uv-eos").central_flow
    z = sp.Symbol("z", real=True)
    assert sp.simplify(flow.multiplier - (1 - z ** 2) / 3) == 0
    k = sp.Symbol("k", real=True)
    assert sp.expand(flow.gradient_field[z] - (-k * z * (z ** 2 - 1))) == 0


@pytest.mark.parametrize("parameterization", ["sp", "mup"])
def test_uv_metric_against_parameter_space_gradients(parameterization):
    """K_ab = s <grad_w z_a, grad_w z_b>, derived in the state, against the same inner products computed from the
    state's definitions in the parameters u, v in R^n (n = 3) by central differences (tolerance as above)."""
    derived = load_model("uv", parameterization)
    spec = derived.description
    definitions = derived.state_definitions.definitions
    states = list(definitions)
    values = {"eta": 0.8, "y": 1.2, "n": 3, "x": 0.9}
    bound = derived.model.bind_values(values)
    n = 3
    u, v = sp.symbols("u0:3", real=True), sp.symbols("v0:3", real=True)
    vectors = {spec.vectors[0]: u, spec.vectors[1]: v}
    gram = {spec.gram_symbol(i, j): sum(a * b for a, b in zip(vectors[spec.vectors[i]], vectors[spec.vectors[j]]))
            for i in range(2) for j in range(i, 2)}
    weights = list(u) + list(v)
    state_of_weights = [sp.lambdify(weights, definitions[s].subs(gram).subs(bound)) for s in states]
    scale = float(spec.lr_scale.subs(bound))
    metric = sp.lambdify(states, derived.central_flow.metric.subs(bound))
    rng = np.random.default_rng(2)
    for _ in range(5):
        w = rng.normal(size=2 * n)
        gradients = [_finite_difference_gradient(lambda p, f=f: f(*p), w) for f in state_of_weights]
        expected = scale * np.array([[ga @ gb for gb in gradients] for ga in gradients])
        state = [f(*w) for f in state_of_weights]
        np.testing.assert_allclose(np.array(metric(*state), dtype=float), expected, rtol=1e-6, atol=1e-8)


def test_uv_flow_closes_on_the_state():
    flow = load_model("uv", "mup").central_flow
    assert "vanishes identically" in flow.closure
    assert {str(s) for s in flow.states} == {"f", "lam"}
    f, lam = flow.states
    assert sp.simplify(flow.metric[0, 0] - lam) == 0  # K_ff = s |grad f|^2 is the NTK lam by definition


def test_momentum_has_no_central_flow():
    flow = load_model("uv-eos", optimizer="heavy-ball").central_flow
    assert flow.gradient_field is None and "GD only" in flow.notes


def test_latex_export_has_the_flow():
    text = load_model("uv-eos").latex(only="central_flow")
    assert r"\label{eq:uv-eos:default:flow-z}" in text and r"\label{eq:uv-eos:default:flow-sigma2}" in text
    assert r"\sigma^{2}" in text and r"\frac{dz}{dt}" in text
