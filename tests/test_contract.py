"""The shared contract: every registered model goes through every measure with no model-specific code."""
import json

import pytest

from analysis import get_model, model_names
from numerics import OUTCOMES
from numerics.cli import main

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
    table = json.loads(out)
    assert code == 0 and all("stability" in p for p in table["fixed_points"])
    assert table["complete"] in (True, False) and (table["fixed_points"] or table["reason"])
    code, out, _ = call(capsys, "run", name, *settings(name), "--steps", "300", "--json")
    payload = json.loads(out)
    # One outcome vocabulary everywhere now (deliberate): "undetermined" (with a reason) joined the four others.
    assert code == 0 and payload["outcome"]["name"] in OUTCOMES
    assert (payload["outcome"]["name"] == "undetermined") == ("reason" in payload["outcome"])
    assert len(payload["trajectory"]["sharpness"]) == 301 and "gap" in payload
    varied = next(p.name for p in model.parameters)
    code, out, _ = call(capsys, "bifurcation", name, *settings(name), "--vary", f"{varied}=0.1:0.3:5", "--steps", "50",
                        "--keep", "5", "--json")
    assert code == 0 and len(json.loads(out)["orbits"]) == 5
    code, out, _ = call(capsys, "lyapunov", name, *settings(name), "--steps", "2000", "--json")
    assert code == 0 and (json.loads(out)["exponents"] is None or len(json.loads(out)["exponents"]) == len(model.state))
    if len(model.state) >= 2:
        first, second = (s.name for s in model.state[:2])
        code, out, _ = call(capsys, "basin", name, *settings(name), "--grid", f"{first}=-1:1:6",
                            "--grid", f"{second}=-1:1:5", "--steps", "100", "--json")
        basin = json.loads(out)
        assert code == 0 and sum(basin["counts"].values()) == 30
        # The same five outcomes as `run` and `sweep` (deliberate: no "other" class any more).
        assert basin["classes"] == list(OUTCOMES) and sorted(basin["counts"]) == sorted(OUTCOMES)
    # The cascade either runs or says in one line why it cannot (sets of fixed points are not isolated).
    code, out, err = call(capsys, "cascade", name, *settings(name), "--vary", varied, "--doublings", "3",
                          "--digits", "20", "--quiet", "--json")
    assert code == 0 or (code == 2 and err.count("\n") == 1)
    # crosscheck runs on every model (deliberate): parameter-space GD on the model's own parameters (drawn at
    # width 4 for the width-n model uv; from the default state for coordinate models) against the derived map.
    width = ["--width", "4"] if name == "uv" else []
    code, out, _ = call(capsys, "crosscheck", name, *settings(name), *width, "--steps", "20", "--quiet", "--json")
    check = json.loads(out)
    assert code == 0 and check["outcome"]["name"] == "completed" and check["compared_steps"] == 21
    errors = {key: value for key, value in check.items() if key.startswith("max_abs_error_")}
    assert sorted(errors) == sorted(f"max_abs_error_{s.name}" for s in model.state)
    # 1e-10: 20 steps at a small step (eta = 0.2, k = 0.5) in float64 on both sides; measured <= 4e-16.
    assert all(value < 1e-10 for value in errors.values()), errors
    assert check["max_rel_error_sharpness"] < 1e-10
    for key, value in check.get("torch", {}).items():  # PyTorch autograd, when installed: the same round-off
        assert value < 1e-10, (key, value)


def test_test_modules_have_unique_basenames():
    """pytest imports test files without packages (no __init__.py) by basename: two test_x.py in different folders
    collide, and which one errors depends on the order xdist workers collect them (CI saw it, a local run did not)."""
    from pathlib import Path
    from collections import Counter
    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
