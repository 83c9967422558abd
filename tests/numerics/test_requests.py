"""What a measure is asked: one range syntax (:class:`numerics.Axis`) and parameter values apart from options."""
import json
import textwrap

import numpy as np
import pytest

from analysis.errors import UserInputError
from numerics import Axis, IteratedMap, cascade, crosscheck
from numerics.cli import main
from numerics.branches import continuation
from numerics.axis import AxisError


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
    assert float(flips.bifurcations[0].parameter) == pytest.approx(20, rel=1e-15)
    continued = continuation(option_named, Axis("steps", (10, 25)), values=VALUES)
    (flip,) = [s for s in continued.special_points if s["type"] == "PD"]
    assert flip["parameters"]["steps"] == pytest.approx(20, rel=1e-8)  # located by the test function (1e-10)


def test_parameters_named_like_options_through_the_command_line(option_named, capsys):
    settings = [a for k, v in VALUES.items() for a in ("--set", f"{k}={v}")]
    assert main(["run", option_named, *settings, "--steps", "40", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["steps"] == 40 and payload["parameters"]["steps"] == 3
    assert payload["final"]["x"] == IteratedMap(option_named, values=VALUES).run(40).final["x"]


# ------------------------------------------------------------------------------------------------------------------
# Typed requests: argv -> request -> library call, and back (to_argv)

import shlex  # noqa: E402

from numerics import requests  # noqa: E402
from numerics.cli.parser import build_parser  # noqa: E402
from numerics.report.record import record  # noqa: E402
from numerics.requests import (BasinRequest, BifurcationRequest, CascadeRequest, CentralFlowRequest,  # noqa: E402
                               ContinuationRequest, CrosscheckRequest, FixedPointsRequest, LyapunovRequest, NetworkRequest, Problem,
                               RunRequest, SweepRequest, WidthScanRequest)

UV = {"eta": "0.5", "y": "1", "n": "4"}
UV_MUP = Problem("uv", values=UV, init={"f": "0.1", "lam": "1"}, parameterization="mup")
#: Every kind of request, each with options away from their defaults (and some at them), so that a field that
#: ``to_argv()`` left out, or that the command line read into another field, breaks the round trip.
REQUESTS = [
    FixedPointsRequest(Problem("uv", values=UV, parameterization="mup")),
    RunRequest(UV_MUP, steps=500, every=10, max_memory="1G", force=True),
    RunRequest(Problem("product", values={"eta": "0.1", "beta": "0.5"}, loss="(a*b*c - y)^2/2", depth=3,
                       optimizer="heavy-ball"), steps=5),
    LyapunovRequest(Problem("uv-eos", values={"k": "1/3"}), steps=1000, transient=0, batches=4),
    LyapunovRequest(Problem("uv-eos", values={"k": "2"})),
    BifurcationRequest(Problem("uv-eos", init={"z": "0.3"}), Axis.parse("k=1:2.2:800"), steps=100, keep=10),
    BifurcationRequest(Problem("uv-eos"), Axis("k", [1.0, 1.5, 1.7])),
    BasinRequest(Problem("uv", values=UV), (Axis.parse("f=-2:2:64"), Axis.parse("lam=0.1:3:64:log")), steps=50),
    CascadeRequest(Problem("uv-eos", init={"z": "0.1"}), "k", doublings=4, digits=20, max_memory="2G"),
    ContinuationRequest(Problem("uv-eos"), (Axis.parse("k=0.5:1.4"),), doublings=10),
    ContinuationRequest(UV_MUP, (Axis.parse("eta=0.6:1.4"), Axis.parse("y=0.7:2")), period=4, start_period=2,
                        curve="PD", max_points=200),
    ContinuationRequest(Problem("uv", values=UV, parameterization="mup"), (Axis.parse("lam=1:6"),), start="IV"),
    CrosscheckRequest(Problem("uv", values=UV), width=64, steps=10, seed=3, use_torch=False, max_memory="2G"),
    CrosscheckRequest(Problem("xy-quartic", values={"eta": "0.2"}, init={"x": "2", "y": "0.5"})),
    WidthScanRequest(Problem("uv", values=UV, parameterization="mup"), widths=(1, 4, 16), steps=20, seed=1),
    WidthScanRequest(Problem("uv", values=UV)),
    SweepRequest(Problem("uv", values=UV, init={"f": "0"}), (Axis.parse("eta=0.1:3:64"),
                 Axis.parse("lam=0.1:4:64:log")), "phase.zarr", measure="regime", steps=100, tile=8,
                 scheduler="tcp://127.0.0.1:8786", max_memory="1G", force=True),
    SweepRequest(Problem("uv-eos"), (Axis.parse("k=0.8:2.2:256"),), "k.zarr"),
    NetworkRequest(Axis("eta", [0.15])),
    NetworkRequest(Axis.parse("eta=0.05:0.15:3"), data="digits.npz", model="mine.py:wide_mlp", optimizer="nesterov",
                   beta="0.5", steps=10, width=8, samples=100, seed=2, dtype="float32", top_k=3, measure_every=1,
                   max_hvps=50, tol=1e-4, time_budget=10.0, threads=2, out="etas.json"),
    NetworkRequest(Axis("eta", [0.3]), width=8, samples=32, steps=60, top_k=4, measure_every=1, central_flow=True,
                   substeps=8),
    NetworkRequest(Axis("eta", [0.1]), optimizer="heavy-ball", beta="0.5", batch_size=64, samples=256),
    NetworkRequest(Axis("eta", [0.1]), optimizer="sgd", batch_size=32),
    NetworkRequest(Axis("eta", [0.001]), optimizer="adam", beta1="0.8", eps="1e-6", steps=20),
    NetworkRequest(Axis.parse("eta=0.1:0.3:3"), vary=(Axis("width", [16, 64]), Axis("beta", [0.5, 0.9])),
                   optimizer="heavy-ball", samples=256, out="grid.json", scheduler="tcp://127.0.0.1:8786"),
    NetworkRequest(Axis("eta", [0.1]), vary=(Axis("seed", [0, 1, 2]),)),
    CentralFlowRequest(Problem("uv-eos", values={"k": "1.05"}), 300.0, gd=True, window=(100.0, 300.0), samples=51,
                       rtol=5e-11),
    CentralFlowRequest(UV_MUP, 20.5),
]


def _parsed(argv):
    args = build_parser().parse_args(argv)
    return args.request(args)


def test_every_kind_of_request_is_exercised():
    kinds = {getattr(requests, name) for name in requests.__all__ if name.endswith("Request")}
    assert {type(r) for r in REQUESTS} == kinds


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: " ".join(r.to_argv())[:60])
def test_to_argv_parses_back_into_an_equal_request(request_):
    argv = request_.to_argv()
    assert argv[0] == request_.command
    assert _parsed(argv) == request_


@pytest.mark.parametrize("command", ["run", "lyapunov", "bifurcation", "basin", "cascade", "continuation",
                                     "crosscheck", "width-scan", "sweep", "phase-diagram", "nn", "fixed-points",
                                     "central-flow"])
def test_help_examples_read_into_requests_that_write_themselves_back(command):
    """Each --help example (as a user writes it) as a request; its to_argv() is a normal form: parsed again, the
    same request (rendering options such as --plot and --json are not part of what is asked)."""
    from numerics.cli.parser import EXAMPLES

    for example in EXAMPLES[command]:
        request = _parsed(shlex.split(example)[1:])
        assert _parsed(request.to_argv()) == request, example


def test_requests_refuse_what_the_measure_cannot_do():
    with pytest.raises(UserInputError, match="an orbit diagram needs A < B"):
        BifurcationRequest(Problem("uv-eos"), Axis.parse("k=2:1:3"))
    with pytest.raises(UserInputError, match="exactly two --grid"):
        BasinRequest(Problem("uv"), (Axis.parse("f=0:1:3"),))
    with pytest.raises(UserInputError, match="exactly two --vary"):
        ContinuationRequest(Problem("uv-eos"), (Axis.parse("k=0.5:1.4"),), curve="PD")
    with pytest.raises(UserInputError, match="needs the momentum"):
        NetworkRequest(Axis("eta", [0.1]), optimizer="heavy-ball")
    with pytest.raises(UserInputError, match="eta"):
        NetworkRequest(Axis("eta", [-0.1]))
    with pytest.raises(UserInputError, match="name given twice"):
        Problem("uv", values=[("eta", 1), ("eta", 2)])
    with pytest.raises(UserInputError, match="steps"):
        RunRequest(Problem("uv-eos"), steps=0)
    assert Problem("uv", optimizer="gd") == Problem("uv")  # gd is the default optimizer, not an option


def _rerun(command, capsys):
    assert command.startswith("sharpness ")
    assert main(shlex.split(command)[1:]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_record_reruns_through_the_command_line(capsys):
    """A report record's "rerun with" line, executed through the command line, prints the recorded number: the
    report's xy-quartic run (plain float iteration of the derived map: bit-for-bit) and its period-2 flip curve by
    continuation, whose hand-written command line used to leave out --max-points 200."""
    from numerics.report.continuation import REPORT_INIT, REPORT_PLANE, REPORT_VALUES, REPORT_Y

    run = record(RunRequest(Problem("xy-quartic", values={"eta": "0.1"}, init={"x": "4", "y": "0.3"}),
                            steps=2000, every=100))
    assert _rerun(run["command"], capsys) == run["result"]
    problem = Problem("uv", values={**REPORT_VALUES, "y": REPORT_Y}, init=REPORT_INIT, parameterization="mup")
    curve = record(ContinuationRequest(problem, tuple(Axis.parse(t) for t in REPORT_PLANE), period=2, start_period=2,
                                       curve="PD", max_points=200))
    assert "--max-points 200" in curve["command"]
    assert _rerun(curve["command"], capsys) == curve["result"]


def test_a_network_grid_request_calls_the_grid_with_the_settings_it_does_not_vary(monkeypatch):
    """A request with more than one run (or a scheduler) calls :func:`numerics.nn.network_grid` with its axes (eta
    first) and the settings it does not vary (compared before any training: no PyTorch, no cluster); each varied
    value takes the request's own form (integers for integer settings, floats where the request keeps text), and
    one run without a scheduler is still trained in this process."""
    from numerics import nn

    class Reached(Exception):
        pass

    calls = []

    def grid(vary, out=None, **settings):
        calls.append((vary, out, settings))
        raise Reached

    monkeypatch.setattr(nn, "network_grid", grid)
    request = NetworkRequest(Axis("eta", [0.1]), vary=(Axis("width", [16.0, 64.0]), Axis("beta", [0.5, 0.9])),
                             optimizer="heavy-ball", samples=256, out="grid.json", scheduler="tcp://127.0.0.1:1")
    assert request.grid and request.vary[0].values == (16.0, 64.0)
    with pytest.raises(Reached):
        request.call()
    vary, out, settings = calls[-1]
    assert [axis.name for axis in vary] == ["eta", "width", "beta"] and out == "grid.json"
    assert settings["scheduler"] == "tcp://127.0.0.1:1" and settings["samples"] == 256
    assert not {"eta", "width", "beta"} & set(settings)
    assert not NetworkRequest(Axis("eta", [0.1])).grid and NetworkRequest(Axis("eta", [0.1]), scheduler="x").grid
    with pytest.raises(UserInputError, match="heavy-ball needs the momentum"):
        NetworkRequest(Axis("eta", [0.1]), vary=(Axis("width", [8, 16]),), optimizer="heavy-ball")

