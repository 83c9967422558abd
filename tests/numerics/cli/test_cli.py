"""The ``sharpness`` command line: public interface (names, options, JSON keys) and bad input."""
import json
import subprocess
import sys

import pytest

from numerics.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_json(capsys):
    code, out, _ = run(capsys, "models", "--json")
    assert code == 0
    models = {m["name"]: m for m in json.loads(out)}
    assert {"uv", "uv-eos"} <= set(models)
    uv = models["uv"]
    assert [p["name"] for p in uv["parameters"]] == ["eta", "n", "y", "x"]
    assert [p["default"] for p in uv["parameters"] if p["name"] == "x"] == [1.0]
    assert [s["name"] for s in uv["state"]] == ["f", "lam"]
    assert models["uv-eos"]["parameters"][0]["name"] == "k"
    assert all(m["description"] for m in models.values())


def test_derive_only_json_and_latex(capsys, tmp_path):
    path = tmp_path / "uv.tex"
    code, out, _ = run(capsys, "derive", "uv", "--parameterization", "mup", "--only", "sharpness",
                       "--latex", str(path), "--json")
    assert code == 0
    payload = json.loads(out)
    assert list(payload["results"]) == ["state_definitions", "hessian_spectrum", "sharpness"]
    (equation,) = payload["results"]["sharpness"]["equations"]
    assert equation["rhs"] == "lam/2 + sqrt(12*f**2*x**2 - 16*f*x**2*y + lam**2 + 4*x**2*y**2)/2"
    assert r"\label{eq:uv:mup:sharpness}" in path.read_text()


def test_fixed_points_json_schema_and_values(capsys):
    code, out, _ = run(capsys, "fixed-points", "uv", "--parameterization", "mup", "--set", "eta=0.5",
                       "--set", "y=1", "--set", "n=4", "--json")
    assert code == 0
    table = json.loads(out)
    assert table["complete"] is True and table["reason"] is None  # exact elimination at these values
    points = table["fixed_points"]
    for point in points:
        assert set(point) >= {"coordinates", "eigenvalues", "stability", "focus", "expression"}
        assert set(point["coordinates"]) == {"f", "lam"}
        assert all(isinstance(v, (int, float)) or set(v) == {"re", "im", "modulus", "argument"}
                   for v in point["eigenvalues"])
    by_label = {p["label"]: p for p in points}
    # Origin: eigenvalues (1 -+ eta x y)^2 = 0.25, 2.25 -> saddle.
    # rel 1e-15: exact rational eigenvalues, rounded once to float64.
    assert sorted(by_label["I"]["eigenvalues"]) == pytest.approx([0.25, 2.25], rel=1e-15)
    assert by_label["I"]["stability"] == "saddle"
    # Point on u = v: f = y + 2/(eta x) = 5, lam = 2 x f = 10; eigenvalues 9 and 2 eta x y + 5 = 6 (closed forms
    # rounded once: pytest.approx's default relative 1e-6 is ample).
    assert by_label["III"]["coordinates"] == pytest.approx({"f": 5.0, "lam": 10.0})
    assert sorted(by_label["III"]["eigenvalues"]) == pytest.approx([6.0, 9.0])
    assert by_label["III"]["stability"] == "repelling"
    line = by_label["IV"]
    assert line["coordinates"] == pytest.approx({"f": 1.0, "lam": 4.0})  # the flip point eta lam = 2
    assert line["stability"].startswith("non-hyperbolic (line of fixed points")
    assert line["line"]["free"] == "lam"


def test_eigenvalue_json_encoding():
    """Real eigenvalues are JSON numbers, complex ones {"re", "im", "modulus", "argument"} objects."""
    import math

    import sympy as sp

    from analysis.evaluate import number_json
    assert number_json(sp.Integer(2)) == 2.0
    assert number_json(1 + 2 * sp.I) == {"re": 1.0, "im": 2.0, "modulus": math.sqrt(5), "argument": math.atan2(2, 1)}


@pytest.mark.parametrize("argv,fragment", [
    (["derive", "nope"], "unknown model 'nope'; expected one of: product, two-input, uv, uv-eos, xy-quartic"),
    (["derive", "uv", "--only", "nothing"], "unknown result 'nothing'"),
    (["derive", "uv", "--parameterization", "ntk"], "unknown parameterization 'ntk'"),
    (["fixed-points", "uv", "--set", "eta=0.5", "--set", "y=1"],
     "missing value for parameter 'n' of model 'uv'; give it with --set n=VALUE"),
    (["fixed-points", "uv", "--set", "eta", "--set", "y=1", "--set", "n=2"], "malformed --set 'eta'"),
    (["fixed-points", "uv", "--set", "eta=abc", "--set", "y=1", "--set", "n=2"], "must be a number"),
    (["fixed-points", "uv", "--set", "eta=__import__('os')", "--set", "y=1", "--set", "n=2"], "must be a number"),
    # Domain errors are now typed DomainErrors reading "<name> must be <requirement>, got <value>" (deliberate).
    (["fixed-points", "uv", "--set", "eta=0.5", "--set", "y=1", "--set", "n=0"], "n must be a positive integer, got 0"),
    (["fixed-points", "uv", "--set", "eta=-1", "--set", "y=1", "--set", "n=2"],
     "eta must be a finite number > 0, got -1"),
    (["fixed-points", "uv", "--set", "eta=1", "--set", "y=1", "--set", "n=2.5"], "n must be a positive integer"),
    (["fixed-points", "uv", "--set", "eta=1", "--set", "y=1", "--set", "n=2", "--set", "q=1"], "unknown parameter 'q'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_one_line_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_console_script_bad_input_no_traceback():
    # The command line moved to numerics.cli (the `sharpness` console script's entry point).
    proc = subprocess.run([sys.executable, "-m", "numerics.cli", "derive", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sharpness: error: unknown model") and proc.stderr.count("\n") == 1


def test_run_json_keys(capsys):
    code, out, _ = run(capsys, "run", "uv", "--set", "eta=0.5", "--set", "n=4", "--set", "y=1", "--init", "f=0.1",
                       "--init", "lam=1", "--steps", "200", "--every", "10", "--json")
    assert code == 0
    payload = json.loads(out)
    assert set(payload["final"]) == {"f", "lam", "sharpness", "loss"}
    assert set(payload["trajectory"]) >= {"f", "lam", "sharpness", "loss"}
    assert len(payload["trajectory"]["f"]) == 21  # steps 0, 10, ..., 200
    assert payload["outcome"]["name"] == "converged"
    assert all(set(r) == {"name", "start", "end"} for r in payload["regimes"])


def test_short_run_is_undetermined_with_a_reason(capsys):
    """Deliberate: one outcome vocabulary everywhere; a run shorter than 192 steps (3 x the longest period
    resolved) whose orbit is neither converged nor periodic is "undetermined" and says why; the same chaotic
    orbit run long enough is "chaotic"."""
    code, out, _ = run(capsys, "run", "uv-eos", "--set", "k=1.9", "--steps", "100", "--json")
    outcome = json.loads(out)["outcome"]
    assert code == 0 and outcome["name"] == "undetermined" and outcome["reason"].startswith("too short")
    code, out, _ = run(capsys, "run", "uv-eos", "--set", "k=1.9", "--steps", "300", "--json")
    assert code == 0 and json.loads(out)["outcome"]["name"] == "chaotic"


def test_run_diverged_json_has_no_nan(capsys):
    code, out, _ = run(capsys, "run", "uv-eos", "--set", "k=2.5", "--steps", "100", "--json")
    assert code == 0
    payload = json.loads(out)  # strict JSON: inf/NaN would not parse with allow_nan=False on the way out
    assert payload["outcome"]["name"] == "diverged"
    sharp = payload["final"]["sharpness"]
    assert sharp is None or abs(sharp) > 1e100  # the last finite state before overflow


def test_bifurcation_cascade_lyapunov_json(capsys, tmp_path):
    code, out, _ = run(capsys, "bifurcation", "uv-eos", "--vary", "k=0.5:1.2:8", "--steps", "500", "--keep", "4", "--plot", str(tmp_path / "o.png"), "--json")
    assert code == 0 and (tmp_path / "o.png").stat().st_size > 1000
    assert len(json.loads(out)["orbits"]) == 8
    code, out, _ = run(capsys, "cascade", "uv-eos", "--vary", "k", "--doublings", "5", "--digits", "30", "--quiet",
                       "--json")
    payload = json.loads(out)
    assert [b["period"] for b in payload["bifurcations"]] == [1, 2, 4, 8, 16]
    assert payload["bifurcations"][0]["parameter"] == 1.0 and len(payload["delta"]) == 3
    code, out, _ = run(capsys, "lyapunov", "uv-eos", "--set", "k=2", "--steps", "20000", "--json")
    payload = json.loads(out)
    assert set(payload) >= {"exponents", "stderr"} and len(payload["exponents"]) == 1


@pytest.mark.parametrize("argv,fragment", [
    (["run", "uv-eos", "--set", "k=1", "--steps", "0"], "--steps must be a positive integer"),
    (["run", "uv-eos", "--set", "k=1", "--steps", "-5"], "--steps must be a positive integer"),
    (["run", "uv-eos", "--set", "k=1", "--init", "w=1", "--steps", "5"], "unknown state variable 'w'"),
    (["run", "uv-eos", "--set", "k=1", "--steps", "100000000000"], "thin it with --every"),
    (["run", "uv-eos", "--set", "k=1", "--steps", "5", "--plot", "x.gif"], "unknown figure format"),
    (["bifurcation", "uv-eos", "--vary", "q=0:1:5"], "unknown parameter 'q'"),
    (["bifurcation", "uv-eos", "--vary", "k=1:0:5"], "an orbit diagram needs A < B"),
    (["bifurcation", "uv-eos", "--vary", "k=0.5:1.2"], "--vary 'k=0.5:1.2': give the number of points: k=0.5:1.2:N"),
    (["cascade", "uv-eos", "--vary", "nope"], "unknown parameter 'nope'"),
    (["cascade", "uv-eos", "--vary", "k=1:2"], "a cascade's parameter takes no range"),
    # The former range options are refused with the form that replaced them (one syntax: --vary NAME=A:B:N).
    (["bifurcation", "uv-eos", "--vary", "k", "--range", "0.5", "1", "--points", "400"],
     "--range was replaced: write --vary k=0.5:1:400"),
    (["bifurcation", "uv-eos", "--vary", "k", "--range", "0.5", "1"], "--range was replaced: write --vary k=0.5:1:1000"),
    (["lyapunov", "uv-eos", "--set", "k=x"], "must be a number"),
])
def test_numeric_commands_bad_input(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert fragment in err and err.count("\n") == 1


@pytest.mark.parametrize("argv,fragment", [
    (["crosscheck", "uv", "--width", "0", "--set", "eta=0.5", "--set", "y=1"], "--width must be a positive integer"),
    # crosscheck now runs on every model (deliberate); only a width-n model takes --width.
    (["crosscheck", "xy-quartic", "--width", "4", "--set", "eta=0.5"], "'xy-quartic' is a coordinate model"),
    (["nn", "--dataset", "mnist", "--set", "eta=0.1"], "unknown dataset 'mnist'"),
    (["nn", "--arch", "transformer", "--set", "eta=0.1"], "unknown architecture 'transformer'"),
    (["nn", "--eta", "0.1"], "--eta was replaced: write --set eta=0.1 (one run) or --vary eta=A:B:N (a sweep)"),
    (["nn", "--eta", "0.1:0.2:3"], "--eta was replaced: write --vary eta=0.1:0.2:3"),
    (["nn", "--vary", "lr=0.1:0.2:3"], "unknown parameter 'lr' to vary in nn"),
    # grids: each varied value checked as the option that sets it, before any work (no cluster is started)
    (["nn", "--set", "eta=0.1", "--vary", "threads=1,2"], "unknown parameter 'threads' to vary in nn"),
    (["nn", "--set", "eta=0.1", "--vary", "width=8.5,16"], "width must be an integer, got 8.5"),
    (["nn", "--set", "eta=0.1", "--vary", "width=8,16", "--width", "32"], "width is both varied"),
    (["nn", "--set", "eta=0.1", "--vary", "seed=-1,2"], "--seed must be an integer >= 0, got -1"),
    (["nn", "--set", "eta=0.1", "--vary", "beta=0.5,1.2", "--optimizer", "heavy-ball"], "beta must be"),
    (["nn", "--vary", "eta=0.1,0.2", "--vary", "eta=0.3"], "--vary eta is given twice"),
    (["nn", "--vary", "width=8,16"], "give the step size"),
    (["nn", "--vary", "eta=0.1,0.2", "--vary", "width=8,16", "--orbit-plot", "o.png"], "vary eta alone"),
    (["nn", "--set", "eta=0.1", "--vary", "width=8,16", "--central-flow"], "--central-flow runs one step size"),
    (["nn", "--vary", "eta=0.1:0.2:3", "--set", "eta=0.1"], "not both"),
    (["nn"], "give the step size: --set eta=E (one run) or --vary eta=A:B:N"),
    (["width-scan", "uv", "--set", "eta=0.5", "--set", "y=1", "--widths", "1,x"], "--widths must be"),
])
def test_crosscheck_and_nn_bad_input(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and fragment in err and err.count("\n") == 1


def test_crosscheck_json_keys(capsys):
    code, out, _ = run(capsys, "crosscheck", "uv", "--width", "8", "--set", "eta=0.5", "--set", "y=1",
                       "--steps", "20", "--seed", "1", "--no-torch", "--quiet", "--json")
    payload = json.loads(out)
    # 1e-12: 20 float64 steps at eta = 0.5 in a converging regime, so the two sides differ by round-off only.
    assert code == 0 and payload["max_abs_error_f"] < 1e-12 and payload["max_abs_error_lam"] < 1e-12
    assert payload["max_rel_error_sharpness"] < 1e-12


def test_bifurcation_json_is_what_json_dump_prints(capsys):
    """`bifurcation --json` writes the orbits in bulk (numerics.serialize.dumps_json): the text is byte for byte
    json.dump(finite(request.to_json(diagram)), indent=2) of the same diagram, diverged lanes' nulls included
    (k up to 2.3 diverges), and the writer matches json.dump on every kind of value it meets."""
    import numpy as np

    from numerics.cli.commands import bifurcation_request
    from numerics.cli.parser import build_parser
    from numerics.serialize import dumps_json, finite

    argv = ["bifurcation", "uv-eos", "--vary", "k=0.5:2.3:40", "--steps", "300", "--keep", "3", "--json"]
    code, out, _ = run(capsys, *argv)
    request = bifurcation_request(build_parser().parse_args(argv))
    diagram = request.call()
    assert code == 0 and any(diagram.diverged) and not all(diagram.diverged)
    assert out == json.dumps(finite(request.to_json(diagram)), indent=2, allow_nan=False) + "\n"
    values = {"floats": np.array([[1.5, -0.0, np.nan], [np.inf, 5e-324, 1e300]]), "ints": np.arange(6).reshape(3, 2, 1),
              "flags": np.array([True, False]), "empty": np.zeros((0, 2)), "scalar": np.float64(2.5),
              "nested": [{"a": np.array([0.1])}, "text", None, 3], "float32": np.array([0.1], dtype=np.float32)}
    as_lists = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in values.items()}
    as_lists["nested"] = [{"a": [0.1]}, "text", None, 3]
    assert dumps_json(values) == json.dumps(finite(as_lists), indent=2, allow_nan=False)
    assert dumps_json(values["floats"]) == json.dumps(finite(values["floats"].tolist()), indent=2, allow_nan=False)
