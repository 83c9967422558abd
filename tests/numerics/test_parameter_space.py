"""numerics.parameter_space: parameter-space GD built from the model description only.

Reference values come from three independent places: the other backend (numpy Gram chain rule vs torch autograd
through the actual vectors), the hand-written UV network of tests/uv_reference.py (formerly
numerics.cross_check.UVNetwork), and sympy.hessian of the loss in the explicit parameters, evaluated with mpmath at
30 digits.

Tolerances. Both backends and the hand-written network do the same float64 arithmetic in a different order, so they
differ by round-off: a few ulps per step, which stays ~1e-15 over 50 steps in the converging and catapult runs used
here (measured <= 3e-15); 1e-12 leaves three orders of margin without hiding a wrong derivative (which shows at
O(1)). Sharpness by Lanczos (eigsh, tol 1e-14) is compared at relative 1e-10 against the hand-written network and
1e-12 between backends (measured <= 3e-15). Against the 30-digit reference the only error is the float64 evaluation
of the Hessian (conditioning ~ its entries over its top eigenvalue, < 1e2 here), hence relative 1e-12.
"""
import dataclasses
import sys

import mpmath
import numpy as np
import pytest
import sympy as sp

from analysis.errors import UserInputError
from analysis.model import CoordinateModel, GramModel, Model, Parameter, StateVariable
from analysis.registry import get_model
from numerics.parameter_space import DENSE_LIMIT, ParameterSpaceGD, run
from tests import uv_reference

BACKENDS = ("numpy", "torch")
ROUND_OFF = 1e-12


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread while a test runs (restored after): the tensors here are tiny (at most 2 x 200), and
    torch's default thread pool makes them ~30x slower on a loaded machine (measured: a 100-step width-1000 UV
    run 58 s with the default threads against 2 s with one, at load average 8 on 2 cores)."""
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _series(result):
    return {**{name: series for name, series in result["state"].items()}, "loss": result["loss"],
            "sharpness": result["sharpness"]}


def _assert_backends_agree(make, steps=50):
    """Run the numpy and torch backends side by side; states and loss to ROUND_OFF, sharpness relative."""
    runs = {backend: run(make(backend), steps) for backend in BACKENDS}
    assert runs["numpy"]["outcome"] == runs["torch"]["outcome"] == {"name": "completed"}
    numpy_, torch_ = _series(runs["numpy"]), _series(runs["torch"])
    for name in numpy_:
        assert len(numpy_[name]) == steps + 1
        scale = 1 + np.abs(numpy_[name]).max()
        tolerance = ROUND_OFF * scale
        assert np.abs(numpy_[name] - torch_[name]).max() <= tolerance, name
    return runs


def _exact(gd):
    """The parameter values of ``gd`` as SymPy numbers (the exact binary value of each float)."""
    return {symbol: sp.Float(gd.values[symbol.name], 30) for symbol in gd.symbols}


_REFERENCES = {}


def _reference_functions(gd):
    """mpmath functions of the flat parameters: ``(loss, gradient, s * Hessian, extras)`` from sympy on the loss in
    the explicit parameters (for a Gram model the components of W, row-major; ``extras`` = ``(f, lam)``), at the
    parameter values of ``gd``. Built once per model, width and values (the symbolic Hessian is the slow part)."""
    key = (gd.spec, gd.width, tuple(sorted(gd.values.items())))
    if key in _REFERENCES:
        return _REFERENCES[key]
    spec, exact = gd.spec, _exact(gd)
    scale = sp.sympify(spec.lr_scale).subs(exact)
    if isinstance(spec, GramModel):
        k, n = spec.k, gd.width
        components = sp.Matrix(k, n, lambda i, a: sp.Symbol(f"w_{i}_{a}", real=True))
        gram = components * components.T
        at_gram = {spec.gram_symbol(i, j): gram[i, j] for i in range(k) for j in range(i, k)}
        flat = list(components)  # row-major, as gd.weights().ravel()
        loss = spec.loss.subs(at_gram, simultaneous=True).subs(exact)
        output = spec.output.subs(at_gram, simultaneous=True).subs(exact)
        extras = [output, scale * sum(sp.diff(output, w) ** 2 for w in flat)]
    else:
        flat = [variable.symbol for variable in spec.state]
        loss = spec.loss.subs(exact)
        extras = []
    compile_ = lambda expression: sp.lambdify(flat, expression, modules="mpmath", cse=True)  # noqa: E731
    functions = (compile_(loss), compile_([sp.diff(loss, w) for w in flat]),
                 compile_(scale * sp.hessian(loss, flat)), compile_(extras))
    _REFERENCES[key] = functions
    return functions


def _reference(gd):
    """``(loss, gradient, spectrum of s * Hessian in increasing order, extras)`` at the current point of ``gd``,
    computed at 30 digits and rounded to float."""
    loss, gradient, hessian, extras = _reference_functions(gd)
    with mpmath.workdps(30):
        point = [mpmath.mpf(float(value)) for value in gd.weights().ravel()]  # exact binary values
        spectrum = sorted(mpmath.eigsy(mpmath.matrix(hessian(*point)), eigvals_only=True))
        return (float(loss(*point)), np.array([float(g) for g in gradient(*point)]),
                np.array([float(e) for e in spectrum]), [float(e) for e in extras(*point)])


# --- UV: the two backends, and today's hand-written network -----------------------------------------------------------

@pytest.mark.parametrize("parameterization", ["sp", "mup"])
@pytest.mark.parametrize("width", [1, 3, 64])
def test_uv_numpy_and_torch_agree(torch, parameterization, width):
    _assert_backends_agree(lambda backend: ParameterSpaceGD(get_model("uv"), parameterization, {"eta": 0.5, "y": 1.0},
                                                            width=width, seed=width, backend=backend))


@pytest.mark.parametrize("parameterization, eta", [("sp", 0.5), ("mup", 0.5), ("sp", 1.5), ("mup", 1.2)])
@pytest.mark.parametrize("width", [1, 3, 8, 9, 64])
@pytest.mark.parametrize("backend", BACKENDS)
def test_uv_matches_hand_written_network(parameterization, eta, width, backend):
    """Same draws (u then v from default_rng(seed)), same GD: f and lam to 1e-12 over 50 steps, sharpness to
    relative 1e-10 (widths 8 and 9 straddle the dense/Lanczos switch at 16 parameters). sp at eta = 1.5 is a
    catapult (eta lam0 ~ 2.5), mup at eta = 1.2 sharpens."""
    if backend == "torch":
        pytest.importorskip("torch")
    steps, seed, y = 50, 7, 1.0
    gd = ParameterSpaceGD(get_model("uv"), parameterization, {"eta": eta, "y": y}, width=width, seed=seed,
                          backend=backend)
    u, v = uv_reference.standard_init(width, seed)
    assert np.array_equal(gd.weights(), np.stack([u, v]))
    network = uv_reference.UVNetwork(u, v, 1.0, y, parameterization)
    result = run(gd, steps)
    assert result["outcome"] == {"name": "completed"}
    for t in range(steps + 1):
        assert result["state"]["f"][t] == pytest.approx(network.output, abs=ROUND_OFF)
        assert result["state"]["lam"][t] == pytest.approx(network.ntk, abs=ROUND_OFF)
        assert result["sharpness"][t] == pytest.approx(network.sharpness(), rel=1e-10)
        network.step(eta)


@pytest.mark.parametrize("parameterization", ["sp", "mup"])
@pytest.mark.parametrize("width", [2, 9])
def test_uv_against_sympy_hessian_in_components(parameterization, width):
    """The Gram chain rule against sympy.hessian of the UV loss in the 2n explicit components (dense at width 2,
    Lanczos at width 9), at 30 digits; the loss, gradient and state too."""
    gd = ParameterSpaceGD(get_model("uv"), parameterization, {"eta": 0.5, "y": 2.0, "x": 1.5}, width=width, seed=3)
    _check_gram_against_sympy(gd)


# --- a Gram model whose loss uses every Gram entry (the diagonal factor 2 of the chain rule) ----------------------

def _three_vector_model() -> Model:
    """k = 3 vectors, an output that is nonlinear in every G_ij (uv's loss has no G_ii), muP-like lr scale n."""
    eta, n, y = sp.Symbol("eta", positive=True), sp.Symbol("n", positive=True), sp.Symbol("y", real=True)
    f, lam = sp.Symbol("f", real=True), sp.Symbol("lam", real=True)
    state = (StateVariable("f", f, "output"), StateVariable("lam", lam, "NTK"))
    skeleton = GramModel(vectors=("a", "b", "c"), width=n, step=eta, output=sp.Integer(0), output_symbol=f,
                         loss_of_output=sp.Integer(0), lr_scale=sp.Integer(1), state=state)
    g = skeleton.gram_symbol
    output = (g(0, 0) * g(1, 2) + g(0, 1) ** 2 - g(1, 1) * g(2, 2) / 3) / n ** 2 + g(0, 2) / n
    spec = dataclasses.replace(skeleton, output=output, loss_of_output=(f - y) ** 2 / 2 + f ** 4 / 12, lr_scale=n)
    parameters = (Parameter("eta", eta, "step", "positive"), Parameter("n", n, "width", "positive_integer"),
                  Parameter("y", y, "target", "real", default=sp.Integer(1)))
    return Model(name="three-vector", summary="test model", parameters=parameters, state=state,
                 parameterizations=("mup",), describe=lambda parameterization: spec)


def _check_gram_against_sympy(gd):
    """Loss, gradient, state (f, lam) and sharpness of a Gram model against the 30-digit reference (the gradient
    to ROUND_OFF of its largest entry: its small entries are cancellations)."""
    loss, gradient, spectrum, (output, lam) = _reference(gd)
    assert gd.loss() == pytest.approx(loss, rel=ROUND_OFF)
    np.testing.assert_allclose(gd.gradient(), gradient, rtol=0, atol=ROUND_OFF * np.abs(gradient).max())
    state = gd.state()
    assert state["f"] == pytest.approx(output, rel=ROUND_OFF)
    assert state["lam"] == pytest.approx(lam, rel=ROUND_OFF)
    assert gd.sharpness() == pytest.approx(spectrum[-1], rel=ROUND_OFF)


@pytest.mark.parametrize("width", [2, 6])
@pytest.mark.parametrize("backend", BACKENDS)
def test_three_vector_gram_model_against_sympy(width, backend):
    """Width 2 (6 parameters: dense, and n < k) and 6 (18: Lanczos), at the start and after 5 steps."""
    if backend == "torch":
        pytest.importorskip("torch")
    gd = ParameterSpaceGD(_three_vector_model(), "mup", {"eta": 0.05, "y": 0.5}, width=width, seed=1,
                          backend=backend)
    _check_gram_against_sympy(gd)
    for _ in range(5):
        gd.step()
    _check_gram_against_sympy(gd)


def test_three_vector_backends_agree(torch):
    _assert_backends_agree(lambda backend: ParameterSpaceGD(_three_vector_model(), "mup", {"eta": 0.05, "y": 0.5},
                                                            width=8, seed=2, backend=backend))


# --- coordinate models ----------------------------------------------------------------------------------------------

COORDINATE_CASES = [
    ("xy-quartic", {}, {"eta": 0.1}),
    ("two-input", {}, {"eta": 0.5}),
    ("product", {}, {"eta": 0.1}),
    ("product", {"depth": 3}, {"eta": 0.1}),
    ("uv-eos", {}, {"k": 0.5}),
]


@pytest.mark.parametrize("name, options, values", COORDINATE_CASES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_coordinate_model_against_sympy_hessian(name, options, values, backend):
    """At the default starting point: loss, gradient and sharpness against sympy at 30 digits; one GD step against
    theta - eta s grad L from the same reference."""
    if backend == "torch":
        pytest.importorskip("torch")
    model = get_model(name, **options)
    gd = ParameterSpaceGD(model, model.parameterizations[0], values, backend=backend)
    loss, gradient, spectrum, _ = _reference(gd)
    assert gd.loss() == pytest.approx(loss, rel=ROUND_OFF)
    np.testing.assert_allclose(gd.gradient(), gradient, rtol=ROUND_OFF, atol=0)
    assert gd.sharpness() == pytest.approx(spectrum[-1], rel=ROUND_OFF)
    start = gd.weights()
    gd.step()
    expected = start - gd.eta * gd.lr_scale * gradient
    np.testing.assert_allclose(gd.weights(), expected, rtol=ROUND_OFF, atol=ROUND_OFF)
    assert list(gd.state()) == [variable.name for variable in model.state]


@pytest.mark.parametrize("name, options, values", COORDINATE_CASES)
def test_coordinate_model_backends_agree(torch, name, options, values):
    model = get_model(name, **options)
    _assert_backends_agree(lambda backend: ParameterSpaceGD(model, model.parameterizations[0], values,
                                                            backend=backend))


def test_coordinate_initial_point():
    """``initial`` overrides a coordinate; the others take their defaults at the given values."""
    gd = ParameterSpaceGD(get_model("xy-quartic"), "default", {"eta": 0.1}, initial={"x": 0.7})
    assert gd.state() == {"x": 0.7, "y": 0.2}
    assert gd.parameters == 2


# --- sharpness is the algebraic maximum ----------------------------------------------------------------------------

def _negated(model: Model) -> Model:
    """The model with its per-output loss negated, so the Hessian's spectrum is reflected through 0."""
    def describe(parameterization):
        spec = model.describe(parameterization)
        return dataclasses.replace(spec, loss_of_output=-spec.loss_of_output)
    return dataclasses.replace(model, describe=describe)


@pytest.mark.parametrize("width", [3, 40, 200])
@pytest.mark.parametrize("backend", BACKENDS)
def test_sharpness_is_algebraic_max_not_magnitude_gram(width, backend):
    """Minus the UV loss with a large residual: its Hessian is minus the UV Hessian, whose top eigenvalue is the
    largest in magnitude, so here the most negative eigenvalue dominates; the sharpness must be the top one
    (minus the UV minimum), from dense eigvalsh (width 3) and from eigsh 'LA' (widths 40, 200)."""
    if backend == "torch":
        pytest.importorskip("torch")
    gd = ParameterSpaceGD(_negated(get_model("uv")), "sp", {"eta": 0.1, "y": 30.0}, width=width, seed=4,
                          backend=backend)
    u, v = uv_reference.standard_init(width, 4)
    spectrum = np.linalg.eigvalsh(-uv_reference.hessian(u, v, 1.0, 30.0, "sp"))
    assert -spectrum[0] > spectrum[-1] > 0  # the largest magnitude is on the negative side
    assert gd.sharpness() == pytest.approx(spectrum[-1], rel=1e-10)
    assert (gd.parameters > DENSE_LIMIT) == (width > 8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sharpness_is_algebraic_max_not_magnitude_coordinate(backend):
    """A saddle a^2/2 + ab - 5b^2 + a^2 b^2/10: eigenvalues about +1.1 and -10.1 at the start."""
    if backend == "torch":
        pytest.importorskip("torch")
    a, b, eta = sp.Symbol("a", real=True), sp.Symbol("b", real=True), sp.Symbol("eta", positive=True)
    state = (StateVariable("a", a, "", default=sp.Rational(3, 10)),
             StateVariable("b", b, "", default=-sp.Rational(1, 5)))
    spec = CoordinateModel(loss=a ** 2 / 2 + a * b - 5 * b ** 2 + a ** 2 * b ** 2 / 10, step=eta, state=state)
    model = Model(name="saddle", summary="test", parameters=(Parameter("eta", eta, "step", "positive"),), state=state,
                  parameterizations=("default",), describe=lambda parameterization: spec)
    gd = ParameterSpaceGD(model, "default", {"eta": 0.1}, backend=backend)
    spectrum = _reference(gd)[2]
    assert -spectrum[0] > 5 * spectrum[-1] > 0
    assert gd.sharpness() == pytest.approx(spectrum[-1], rel=ROUND_OFF)


def test_lanczos_is_deterministic():
    make = lambda: ParameterSpaceGD(get_model("uv"), "sp", {"eta": 0.5, "y": 1.0}, width=64, seed=0)  # noqa: E731
    first, second = make(), make()
    assert first.sharpness() == first.sharpness() == second.sharpness()


# --- run --------------------------------------------------------------------------------------------------------------

def test_run_labels_divergence():
    """muP at eta = 3 blows up within 20 steps; recorded points stop before the first non-finite/huge one."""
    gd = ParameterSpaceGD(get_model("uv"), "mup", {"eta": 3.0, "y": 1.0}, width=64, seed=0)
    calls = []
    result = run(gd, 100, progress=lambda: calls.append(1))
    outcome = result["outcome"]
    assert outcome["name"] == "diverged" and 0 < outcome["step"] < 20
    assert len(result["loss"]) == len(result["sharpness"]) == len(result["state"]["f"]) == outcome["step"]
    assert len(calls) == outcome["step"]
    assert np.all(np.isfinite(result["loss"]))


def test_run_completes():
    gd = ParameterSpaceGD(get_model("two-input"), "default", {"eta": 0.5})
    result = run(gd, 10)
    assert result["outcome"] == {"name": "completed"} and result["steps"] == 10
    assert set(result["state"]) == {"a", "w1", "w2"} and len(result["state"]["a"]) == 11
    assert result["loss"][-1] < result["loss"][0]


# --- bad input --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"width": 0}, "positive integer"),
    ({"width": -3}, "positive integer"),
    ({"width": 2.5}, "positive integer"),
    ({"width": True}, "positive integer"),
    ({}, "needs --width"),
    ({"width": 4, "values": {"eta": 0.5, "y": 1.0, "n": 3}}, "contradicts --width 4"),
    ({"width": 4, "values": {"eta": 0.5, "y": 1.0, "m": 3}}, "unknown parameter 'm'"),
    ({"width": 4, "values": {"y": 1.0}}, "missing value for parameter 'eta'"),
    ({"width": 4, "values": {"eta": -0.5, "y": 1.0}}, "eta must be > 0"),
    ({"width": 4, "values": {"eta": float("nan"), "y": 1.0}}, "finite"),
    ({"width": 4, "backend": "jax"}, "unknown backend"),
    ({"width": 4, "initial": {"f": 0.0}}, "coordinate models"),
    ({"width": 4, "parameterization": "ntk"}, "parameterization"),
])
def test_bad_input_gram(kwargs, message):
    arguments = {"parameterization": "sp", "values": {"eta": 0.5, "y": 1.0}, **kwargs}
    with pytest.raises(UserInputError, match=message):
        ParameterSpaceGD(get_model("uv"), arguments.pop("parameterization"), arguments.pop("values"), **arguments)


def test_width_parameter_may_repeat_width():
    gd = ParameterSpaceGD(get_model("uv"), "sp", {"eta": 0.5, "y": 1.0, "n": 4}, width=4)
    assert gd.values["n"] == 4.0 and gd.parameters == 8


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 8}, "--width belongs to width-n models"),
    ({"initial": {"z": 1.0}}, "unknown state variable 'z'"),
    ({"initial": {"x": "one"}}, "real number"),
])
def test_bad_input_coordinate(kwargs, message):
    with pytest.raises(UserInputError, match=message):
        ParameterSpaceGD(get_model("xy-quartic"), "default", {"eta": 0.1}, **kwargs)


def test_torch_backend_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ImportError, match="backend='torch' needs PyTorch"):
        ParameterSpaceGD(get_model("uv"), "sp", {"eta": 0.5, "y": 1.0}, width=4, backend="torch")
    ParameterSpaceGD(get_model("uv"), "sp", {"eta": 0.5, "y": 1.0}, width=4)  # numpy still works
