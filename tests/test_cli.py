"""The ``sharpness`` command line: public interface (names, options, JSON keys) and bad input."""
import json
import subprocess
import sys

import pytest

from analysis.cli import main


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
    points = json.loads(out)
    for point in points:
        assert set(point) >= {"coordinates", "eigenvalues", "stability", "expression"}
        assert set(point["coordinates"]) == {"f", "lam"}
        assert all(isinstance(v, (int, float)) or set(v) == {"re", "im"} for v in point["eigenvalues"])
    by_label = {p["label"]: p for p in points}
    # Origin: eigenvalues (1 -+ eta x y)^2 = 0.25, 2.25 -> saddle.
    assert sorted(by_label["I"]["eigenvalues"]) == pytest.approx([0.25, 2.25], rel=1e-15)
    assert by_label["I"]["stability"] == "saddle"
    # Point on u = v: f = y + 2/(eta x) = 5, lam = 2 x f = 10; eigenvalues 9 and 2 eta x y + 5 = 6.
    assert by_label["III"]["coordinates"] == pytest.approx({"f": 5.0, "lam": 10.0})
    assert sorted(by_label["III"]["eigenvalues"]) == pytest.approx([6.0, 9.0])
    assert by_label["III"]["stability"] == "repelling"
    line = by_label["IV"]
    assert line["coordinates"] == pytest.approx({"f": 1.0, "lam": 4.0})  # the flip point eta lam = 2
    assert line["stability"].startswith("non-hyperbolic (line of fixed points")
    assert line["line"]["free"] == "lam"


def test_fixed_points_complex_eigenvalues_are_objects(capsys):
    """uv-eos is 1-D (real eigenvalues); uv at negative y has complex pairs somewhere: check the encoding."""
    from analysis.evaluate import number_json
    import sympy as sp
    assert number_json(sp.Integer(2)) == 2.0
    assert number_json(1 + 2 * sp.I) == {"re": 1.0, "im": 2.0}


@pytest.mark.parametrize("argv,fragment", [
    (["derive", "nope"], "unknown model 'nope'; expected one of: uv, uv-eos"),
    (["derive", "uv", "--only", "nothing"], "unknown result 'nothing'"),
    (["derive", "uv", "--parameterization", "ntk"], "unknown parameterization 'ntk'"),
    (["fixed-points", "uv", "--set", "eta=0.5", "--set", "y=1"], "missing value for parameter 'n'"),
    (["fixed-points", "uv", "--set", "eta", "--set", "y=1", "--set", "n=2"], "malformed --set 'eta'"),
    (["fixed-points", "uv", "--set", "eta=abc", "--set", "y=1", "--set", "n=2"], "must be a number"),
    (["fixed-points", "uv", "--set", "eta=__import__('os')", "--set", "y=1", "--set", "n=2"], "must be a number"),
    (["fixed-points", "uv", "--set", "eta=0.5", "--set", "y=1", "--set", "n=0"], "n must be > 0"),
    (["fixed-points", "uv", "--set", "eta=-1", "--set", "y=1", "--set", "n=2"], "eta must be > 0"),
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
    proc = subprocess.run([sys.executable, "-m", "analysis.cli", "derive", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sharpness: error: unknown model") and proc.stderr.count("\n") == 1
