"""product: the default depth-d linear network and user losses through the whitelist parser."""
import json
import os

import numpy as np
import pytest
import sympy as sp

from analysis import get_model, load_model
from analysis.errors import UserInputError
from analysis.safe_parse import parse_loss
from numerics import IteratedMap
from numerics.cli import main


def numpy_product_gd(thetas, y, eta, steps):
    thetas = np.array(thetas, dtype=float)
    for _ in range(steps):
        residual = np.prod(thetas) - y
        others = np.array([np.prod(np.delete(thetas, i)) for i in range(len(thetas))])
        thetas = thetas - eta * residual * others
    return thetas


def numpy_product_hessian(thetas, y):
    d = len(thetas)
    residual = np.prod(thetas) - y
    grad = np.array([np.prod(np.delete(thetas, i)) for i in range(d)])
    hessian = np.outer(grad, grad)
    for i in range(d):
        for j in range(d):
            if i != j:
                hessian[i, j] += residual * np.prod(np.delete(thetas, [i, j]))
    return hessian


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_default_product_against_numpy(depth):
    """Final sharpness of the compiled run equals an independent numpy GD's eigvalsh (1e-9), at depth 2 (closed
    form) and 3, 4 (top eigenvalue of the compiled Hessian)."""
    product = IteratedMap(load_model("product", depth=depth), values={"eta": "0.2"})
    result = product.run(500)
    thetas = numpy_product_gd(product.initial_state(), 1.0, 0.2, 500)
    # rel 1e-9: 500 float64 GD steps in a converging regime on both sides, plus eigvalsh's backward error.
    assert result.final["sharpness"] == pytest.approx(np.linalg.eigvalsh(numpy_product_hessian(thetas, 1.0))[-1],
                                                      rel=1e-9)
    compiled = product.compiled
    assert compiled.parameter_names == ["eta", "y"]
    rng = np.random.default_rng(depth)
    for point in rng.normal(size=(20, depth)):
        top = np.linalg.eigvalsh(numpy_product_hessian(point, 0.7))[-1]
        # rel 1e-10 (abs 1e-12 near a zero eigenvalue): closed form or eigvalsh of the same Hessian, one rounding
        # chain each.
        assert compiled.sharpness_numpy(*point, 0.2, 0.7) == pytest.approx(top, rel=1e-10, abs=1e-12)


def test_user_loss_is_a_model_like_any_other():
    model = get_model("product", loss="(x^2*y^2 - 1)^2/4")
    assert [s.name for s in model.state] == ["x"] and [p.name for p in model.parameters] == ["eta", "y"]
    mapping = load_model("product", loss="(a*b - y)^2/2 + c^2").map.images
    a, b, c, y = sp.symbols("a b c y", real=True)
    eta = sp.Symbol("eta", positive=True)
    assert sp.expand(mapping[c] - (c - 2 * eta * c)) == 0
    assert sp.expand(mapping[a] - (a - eta * b * (a * b - y))) == 0


@pytest.mark.parametrize("text,reason", [
    ("__import__('os').system('touch HACKED')", "unexpected character '_'"),
    ("a.__class__", "unexpected character '.'"),
    ("(lambda q: q)(a)", "unexpected character ':'"),
    ("a^100000", "exponent 100000 exceeds 16"),
    ("((a^16)^16)^16", "exponent 256 exceeds 64"),
    ("(((((9^16)^16)^16)^16)^16)*a", "a number larger than 2^4096"),
    ("eval(a)", "unknown function 'eval'"),
    ("a^b", "exponents must be numbers"),
    ("a;; b", "an empty example between ';' separators"),  # one ';' separates two examples (issue 22)
    ("[a for a in b]", "unexpected character '['"),
    ("", "empty expression"),
])
def test_injection_and_abuse_refused_without_running(text, reason, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError, match="refused --loss"):
        parse_loss(text)
    code = main(["derive", "product", "--loss", text])
    err = capsys.readouterr().err
    assert code == 2 and reason in err and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "HACKED")


def test_models_json_lists_every_model(capsys):
    assert main(["models", "--json"]) == 0
    names = [m["name"] for m in json.loads(capsys.readouterr().out)]
    assert names == ["product", "two-input", "uv", "uv-eos", "xy-quartic"]


def test_loss_only_for_product(capsys):
    assert main(["derive", "uv", "--loss", "a^2"]) == 2
    assert "--loss only applies to models built from options" in capsys.readouterr().err
