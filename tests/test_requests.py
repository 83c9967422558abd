"""What a measure is asked: one range syntax (:class:`numerics.Axis`) and parameter values apart from options."""
import json
import textwrap

import numpy as np
import pytest

from analysis.errors import UserInputError
from numerics import Axis, IteratedMap, cascade, crosscheck
from numerics.cli import main
from numerics.continuation import continuation
from numerics.requests import AxisError


@pytest.mark.parametrize("text,values", [
    ("k=0.5:1.3:5", [0.5, 0.7, 0.9, 1.1, 1.3]),
    ("n=1:16:5:log", [1, 2, 4, 8, 16]),
    ("c=1:-1", [1, -1]),                       # an interval, traced from A towards B
    ("eta=0.05,0.1,0.15", [0.05, 0.1, 0.15]),
    ("k=1.3:1.3:1", [1.3]),
])
def test_axis_parses_the_one_grammar_and_writes_it_back(text, values):
    axis = Axis.parse(text)
    # np.linspace / np.geomspace differ from the exact values by round-off only (1e-15 relative).
    assert np.allclose(axis.values, values, rtol=1e-14, atol=0)
    assert Axis.parse(axis.to_text()) == axis and Axis.parse(axis.to_text(counted=True)) == axis
    assert Axis(axis.name, np.array(axis.values)) == axis  # built from floats: the same value


@pytest.mark.parametrize("text,why", [
    ("k", "expected NAME=A:B:N"), ("k=1:2:x", "expected NAME=A:B:N"), ("k=1:1", "two different"),
    ("k=0:1:3:log", "A > 0"), ("k=1:2:0", "N >= 1"), ("k=nan:1:3", "finite"), ("k=1:2:2000000", "at most"),
    ("2k=1:2:3", "expected NAME=A:B:N"),
])
def test_axis_refuses_malformed_text(text, why):
    with pytest.raises(AxisError, match=why):
        Axis.parse(text)


def test_axis_counts_where_the_measure_needs_them_and_the_library_takes_no_text():
    with pytest.raises(AxisError, match="give the number of points: k=1:2:N"):
        Axis.parse("k=1:2", counted=True)
    with pytest.raises(AxisError, match="expected an interval A:B"):
        Axis.parse("k=1:2:3", counted=False)
    with pytest.raises(AxisError, match="values must be finite"):
        Axis("k", [1.0, float("inf")])
    with pytest.raises(UserInputError, match=r"pass Axis.parse\('k=0.5:1.3'\)"):
        continuation("uv-eos", "k=0.5:1.3")
    with pytest.raises(UserInputError, match="values must be a mapping"):
        IteratedMap("uv-eos", 1.2)  # an option or a value passed by position is not read as parameter values


# A model whose parameters are named like the options of the measures (steps, seed, width, digits): they are its
# parameter values, never mistaken for options.
OPTION_NAMED = '''
import sympy as sp
from analysis import CoordinateModel, Model, Parameter, StateVariable
eta, steps, seed, width, digits = (sp.Symbol(n, real=True) for n in ("eta", "steps", "seed", "width", "digits"))
x = sp.Symbol("x", real=True)
d = x - seed
LOSS = steps * d**2 / 2 + width * d**4 / 4 + digits * d**6 / 6
STATE = (StateVariable("x", x, "weight", default=sp.Integer(1)),)
MODEL = Model(name="option-named", summary="a loss whose parameters are called like options",
              parameters=(Parameter("eta", eta, "learning rate", "positive"),
                          Parameter("steps", steps, "curvature", "positive"),
                          Parameter("seed", seed, "minimum", "real"),
                          Parameter("width", width, "quartic", "real", default=sp.Integer(0)),
                          Parameter("digits", digits, "sextic", "real", default=sp.Integer(0))),
              state=STATE, parameterizations=("default",),
              describe=lambda p: CoordinateModel(loss=LOSS, step=eta, state=STATE))
'''
VALUES = {"eta": 0.1, "steps": 3, "seed": 0.5, "width": 0.2, "digits": 0.05}


@pytest.fixture(scope="module")
def option_named(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "option_named.py"
    path.write_text(textwrap.dedent(OPTION_NAMED))
    return str(path)


def _float_gd(values, x, steps):
    """GD on the loss above in plain floats, the independent route."""
    eta, k, m, w, s = (values[n] for n in ("eta", "steps", "seed", "width", "digits"))
    for _ in range(steps):
        d = x - m
        x = x - eta * (k * d + w * d ** 3 + s * d ** 5)
    return x


def test_parameters_named_like_options_through_the_api(option_named):
    run = IteratedMap(option_named, values=VALUES).run(40)
    # Same float operations in another order: a few ulps per step on a contraction (|1 - eta*steps| = 0.7).
    assert run.final["x"] == pytest.approx(_float_gd(VALUES, 1.0, 40), rel=1e-12)
    assert run.parameters["steps"] == 3 and run.steps == 40
    check = crosscheck(option_named, values=VALUES, steps=20, use_torch=False)
    assert check.to_dict()["steps"] == 20
    # The fixed point x = seed flips where 1 - eta*steps = -1: steps = 2/eta = 20 exactly (digits=20: the option).
    flips = cascade(option_named, "steps", values={k: v for k, v in VALUES.items() if k != "steps"}, doublings=1,
                    digits=20)
    assert float(flips.bifurcations[0]["parameter"]) == pytest.approx(20, rel=1e-15)
    continued = continuation(option_named, Axis("steps", (10, 25)), values=VALUES)
    (flip,) = [s for s in continued.special_points if s["type"] == "PD"]
    assert flip["parameters"]["steps"] == pytest.approx(20, rel=1e-8)  # located by the test function (1e-10)


def test_parameters_named_like_options_through_the_command_line(option_named, capsys):
    settings = [a for k, v in VALUES.items() for a in ("--set", f"{k}={v}")]
    assert main(["run", option_named, *settings, "--steps", "40", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["steps"] == 40 and payload["parameters"]["steps"] == 3
    assert payload["final"]["x"] == IteratedMap(option_named, values=VALUES).run(40).final["x"]
