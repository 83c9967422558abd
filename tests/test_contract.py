"""The shared contract: every registered model goes through every measure with no model-specific code."""
import json

import pytest

from analysis import model_names
from analysis.cli import main
from analysis.registry import get_model

SAMPLE = {"positive": "0.2", "positive_integer": "4", "real": "0.5"}


def settings(name):
    """--set for every parameter without a default: a small step, width 4, a real value 0.5."""
    return [arg for p in get_model(name).parameters if p.default is None
            for arg in ("--set", f"{p.name}={SAMPLE[p.domain]}")]


def call(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("name", model_names())
def test_every_measure_runs_on_every_model(name, capsys, tmp_path):
    model = get_model(name)
    code, out, _ = call(capsys, "derive", name, "--json", "--latex", str(tmp_path / "d.tex"))
    assert code == 0 and "sharpness" in json.loads(out)["results"]
    code, out, _ = call(capsys, "fixed-points", name, *settings(name), "--json")
    assert code == 0 and all("stability" in p for p in json.loads(out))
    code, out, _ = call(capsys, "run", name, *settings(name), "--steps", "300", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["outcome"]["name"] in ("converged", "periodic", "chaotic", "diverged")
    assert len(payload["trajectory"]["sharpness"]) == 301 and "gap" in payload
    varied = next(p.name for p in model.parameters)
    code, out, _ = call(capsys, "bifurcation", name, *settings(name), "--vary", varied, "--range", "0.1", "0.3",
                        "--points", "5", "--steps", "50", "--keep", "5", "--json")
    assert code == 0 and len(json.loads(out)["orbits"]) == 5
    code, out, _ = call(capsys, "lyapunov", name, *settings(name), "--steps", "2000", "--json")
    assert code == 0 and (json.loads(out)["exponents"] is None or len(json.loads(out)["exponents"]) == len(model.state))
    if len(model.state) >= 2:
        first, second = (s.name for s in model.state[:2])
        code, out, _ = call(capsys, "basin", name, *settings(name), "--grid", f"{first}=-1:1:6",
                            "--grid", f"{second}=-1:1:5", "--steps", "100", "--json")
        assert code == 0 and sum(json.loads(out)["counts"].values()) == 30
    # The cascade either runs or says in one line why it cannot (sets of fixed points are not isolated).
    code, out, err = call(capsys, "cascade", name, *settings(name), "--vary", varied, "--doublings", "3",
                          "--digits", "20", "--quiet", "--json")
    assert code == 0 or (code == 2 and err.count("\n") == 1)
