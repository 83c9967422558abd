"""The public API (issue: one model object, one iterated-map object): layers, typed results and errors, a user's
own model file, the one classifier and its labels on cases an independent run decides."""
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sympy

import analysis
from analysis import DomainError, MissingValueError, UnknownNameError, load_model
from numerics import OUTCOMES, Axis, IteratedMap
from numerics.cli import main


@pytest.mark.parametrize("module", sorted(m.name for m in pkgutil.walk_packages(analysis.__path__, "analysis.")))
def test_analysis_never_imports_numerics(module):
    code = f"import sys, {module}; sys.exit(1 if any(m.split('.')[0] == 'numerics' for m in sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, module


def test_derived_model_results_are_typed_attributes():
    uv = load_model("uv", "mup")
    assert str(uv.sharpness.expression) == "lam/2 + sqrt(12*f**2*x**2 - 16*f*x**2*y + lam**2 + 4*x**2*y**2)/2"
    labels = [p.label for p in uv.fixed_points.solutions]
    assert labels == ["I", "II", "III", "IV"] and uv.fixed_points.solutions[3].free
    assert uv.map.to_dict()["equations"][0]["label"].startswith("map-")
    table = uv.fixed_points_at({"eta": 0.5, "y": 1, "n": 4})
    # III at f = y + 2/(eta x) = 5, lam = 2 x f = 10 (hand derivation in the README); exact inputs, so exact.
    assert table["III"].coordinates == {"f": 5.0, "lam": 10.0} and table["III"].stability == "repelling"
    with pytest.raises(UnknownNameError, match="result 'eos_map'"):
        load_model("xy-quartic").eos_map


def test_iterated_map_validates_names_and_values():
    with pytest.raises(UnknownNameError, match="expected one of: eta, n, y, x"):
        IteratedMap("uv", values={"eta": 0.5, "n": 4, "y": 1, "bogus": 2})
    with pytest.raises(MissingValueError) as missing:
        IteratedMap("uv", values={"eta": 0.5, "y": 1})
    assert missing.value.name == "n" and missing.value.expected == ["eta", "n", "y"]
    for bad in ({"eta": -1}, {"eta": float("nan")}, {"eta": "1e999999999"}, {"n": 2.5}):
        with pytest.raises(DomainError):
            IteratedMap("uv", values={"eta": 0.5, "n": 4, "y": 1, **bad})
    cubic = IteratedMap("uv-eos", values={"k": 1.2})
    with pytest.raises(DomainError, match="keep"):
        cubic.orbit_diagram(Axis("k", [1.0, 1.1]), steps=3, keep=8)
    with pytest.raises(DomainError, match="realizable"):
        IteratedMap("uv", values={"eta": 1, "n": 4, "y": 1}).run(10, init={"f": 0, "lam": -1})


def test_user_model_file_through_api_and_cli(tmp_path, capsys):
    path = tmp_path / "my_model.py"
    path.write_text(textwrap.dedent('''
        import sympy as sp
        from analysis import CoordinateModel, Model, Parameter, StateVariable
        eta, w = sp.Symbol("eta", positive=True), sp.Symbol("w", real=True)
        STATE = (StateVariable("w", w, "weight", default=sp.Rational(1, 2)),)
        MODEL = Model(name="quartic-well", summary="L = (w^2 - 1)^2 / 4",
                      parameters=(Parameter("eta", eta, "learning rate", "positive"),), state=STATE,
                      parameterizations=("default",),
                      describe=lambda p: CoordinateModel(loss=(w ** 2 - 1) ** 2 / 4, step=eta, state=STATE))
    '''))
    derived = load_model(str(path))
    # Minima w = -1, +1 with L'' = 2 attract for eta < 1 (multiplier 1 - 2 eta); w = 0 (L'' = -1) repels.
    stability = {p.coordinates["w"]: p.stability for p in derived.fixed_points_at({"eta": 0.5})}
    assert stability == {-1.0: "attracting", 0.0: "repelling", 1.0: "attracting"}
    assert main(["run", str(path), "--set", "eta=0.5", "--steps", "300", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["outcome"] == {"name": "converged"} and abs(abs(payload["final"]["w"]) - 1) < 1e-12


PLAIN_SYMBOLS_MODEL = '''
    import sympy as sp
    from analysis import CoordinateModel, Model
    eta, w = sp.Symbol("eta", positive=True), sp.Symbol("w", real=True)
    MODEL = Model(name="plain-well", summary="L = (w^2 - 2)^2 / 4", parameters=(eta,), state=STATE,
                  parameterizations=("default",),
                  describe=lambda p: CoordinateModel(loss=LOSS, step=eta, state=STATE))
'''


@pytest.mark.parametrize("state", ["(w,)", "w"])
def test_plain_sympy_symbols_as_state_and_parameters(tmp_path, state, capsys):
    path = tmp_path / "plain.py"
    loss = (sympy.Symbol("w", real=True) ** 2 - 2) ** 2 / 4
    path.write_text(textwrap.dedent(PLAIN_SYMBOLS_MODEL).replace("STATE", state).replace("LOSS", str(loss)))
    derived = load_model(str(path))
    assert [(s.name, s.default) for s in derived.model.state] == [("w", None)]
    assert derived.model.parameter("eta").domain == "positive"          # from the symbol's assumption
    # Independent route: GD's fixed points on a 1-D loss are its critical points, the real roots of L'(w) (0 and
    # +-sqrt(2), isolated exactly by Poly.real_roots); the table holds floats of exact points, hence 1e-12.
    critical = sorted(float(r) for r in sympy.Poly(sympy.diff(loss), sympy.Symbol("w", real=True)).real_roots())
    found = sorted(p.coordinates["w"] for p in derived.fixed_points_at({"eta": 0.5}))
    assert len(critical) == 3 and np.allclose(found, critical, rtol=0, atol=1e-12)
    # No default for a plain symbol: the initial value is asked for, in one line.
    with pytest.raises(MissingValueError, match="initial value of 'w'"):
        IteratedMap(derived, values={"eta": 0.5}).run(10)
    assert main(["run", str(path), "--set", "eta=0.5", "--steps", "10"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_ambiguous_state_entries_are_refused_saying_what_to_write(tmp_path, capsys):
    path = tmp_path / "strings.py"
    path.write_text(textwrap.dedent(PLAIN_SYMBOLS_MODEL).replace("STATE", '("w",)').replace("LOSS", "w**2"))
    assert main(["fixed-points", str(path), "--set", "eta=0.5"]) == 2
    error = capsys.readouterr().err
    # A string names no symbol (its SymPy assumptions are unknown): refused, with the two forms that work.
    assert error.count("\n") == 1 and "state must be SymPy symbols or StateVariable records" in error
    assert '(w,) or (StateVariable("w", w, "weight"),); got str \'w\'' in error


def test_the_shipped_example_model_file(capsys):
    """examples/my_model.py (the models page shows it): its fixed points against the critical points of its loss
    solved by SymPy from the formula written here, and its minima's multipliers against the Hessian by hand."""
    path = Path(__file__).parent.parent / "examples" / "my_model.py"
    a, b, y, wd = sympy.symbols("a b y wd", real=True)
    loss = (a * b - y) ** 2 / 2 + wd * (a ** 2 + b ** 2) / 2
    values = {y: 1, wd: sympy.Rational(1, 10)}
    gradient = [sympy.diff(loss, v).subs(values) for v in (a, b)]
    critical = sorted((float(s[a]), float(s[b])) for s in sympy.solve(gradient, [a, b], dict=True)
                      if all(v.is_real for v in s.values()))
    table = load_model(str(path)).fixed_points_at({"eta": 1.2})
    found = sorted((p.coordinates["a"], p.coordinates["b"]) for p in table)
    assert np.allclose(found, critical, rtol=0, atol=1e-12)  # floats of exact points
    # At a = b = sqrt(y - wd) the Hessian [[b^2 + wd, 2ab - y], [2ab - y, a^2 + wd]] has eigenvalues 2(y - wd) and
    # 2 wd, so GD's multipliers are 1 - 1.2 * 1.8 and 1 - 1.2 * 0.2.
    assert np.allclose(sorted(table["V"].eigenvalues), [1 - 1.2 * 1.8, 1 - 1.2 * 0.2], rtol=0, atol=1e-12)
    assert main(["run", str(path), "--set", "eta=1.2", "--steps", "2000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == {"name": "periodic", "period": 2}


def test_top_level_names_are_the_functions_even_after_their_modules_are_imported():
    # A submodule named like a lazily exported function becomes the package's attribute once it is imported, and
    # then shadows the function: each exported name must stay what _EXPORTS says after every submodule is loaded.
    code = textwrap.dedent('''
        import importlib, pkgutil, sys, numerics
        for module in pkgutil.walk_packages(numerics.__path__, "numerics."):
            if not module.name.endswith("__main__"):
                try:
                    importlib.import_module(module.name)
                except ImportError as missing:   # an optional extra (torch) not installed
                    print(missing)
        from numerics import continuation, crosscheck, sweep
        from numerics.branches import continuation as function
        assert continuation is function and callable(crosscheck) and callable(sweep), (continuation, crosscheck)
        assert all(getattr(numerics, name) is not None for name in numerics.__all__)
        shadowed = [n for n in numerics.__all__ if type(getattr(numerics, n)).__name__ == "module"]
        sys.exit(f"shadowed by a module: {shadowed}" if shadowed else 0)
    ''')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout


@pytest.mark.parametrize("argv,expected", [
    # eta lam0 = 4.1 > 4: beyond the catapult window, the loss grows geometrically until it overflows (step 17).
    (["uv", "--set", "eta=1", "--set", "n=1000000", "--set", "y=1", "--init", "f=0", "--init", "lam=4.1",
      "--steps", "20"], {"outcome": "diverged", "regimes": ["divergence"]}),
    # 20 steps cannot resolve periods up to 64: undetermined (with its reason), never chaotic.
    (["uv", "--set", "eta=1", "--set", "n=1000", "--set", "y=1", "--init", "f=0", "--init", "lam=2.5",
      "--steps", "20"], {"outcome": "undetermined"}),
])
def test_labels_on_independently_decided_runs(argv, expected, capsys):
    assert main(["run", *argv, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["outcome"]["name"] == expected["outcome"]
    if "regimes" in expected:
        assert [r["name"] for r in payload["regimes"]] == expected["regimes"]
    if expected["outcome"] == "undetermined":
        assert "too short" in payload["outcome"]["reason"]


def test_round_off_oscillation_of_a_converged_loss_is_not_eos():
    result = IteratedMap("xy-quartic", values={"eta": 0.2}).run(20_000, init={"x": 3, "y": 0.2})
    # Its catapult amplifies perturbations (the outcome reports it, "roundoff"), but the reruns at 30 and 50
    # digits end where float64 does: not round-off sensitive.
    assert result.outcome.name == "converged" and result.outcome.roundoff_sensitive is False
    assert all(r.name != "edge of stability" or r.end < 1000 for r in result.regimes)


def test_catapult_is_the_loss_spike_only():
    result = IteratedMap("uv", values={"eta": 2.5, "n": 100, "y": 1}).run(2000, init={"f": 0.05, "lam": 1})
    loss = np.array(result.trajectory["loss"])
    for regime in result.regimes:
        if regime.name == "catapult":
            spike = loss[regime.start: regime.end + 1]
            assert spike.max() > 2 * spike[0]  # a spike, not a phase in which the loss only falls


def test_run_basin_and_sweep_agree_on_a_grid(tmp_path):
    """One classifier: the same orbit gets the same outcome from run, basin and a sweep."""
    from numerics import load_sweep, sweep

    ks = np.linspace(0.6, 1.35, 6)
    runs = [OUTCOMES.index(IteratedMap("uv-eos", values={"k": k}).run(3000, init={"z": 0.4}).outcome.name)
            for k in ks]
    store = tmp_path / "o.zarr"
    sweep("uv-eos", [("k", ks)], measure="outcome", out=str(store), steps=3000, init={"z": 0.4}, tile=4)
    assert load_sweep(store)["outcome"].values.astype(int).tolist() == runs
    two = IteratedMap("xy-quartic", values={"eta": 0.2})
    grid = two.basin([Axis.parse("x=0.5:2.5:3"), Axis.parse("y=0.3:1.5:3")], 1000)
    for i, y in enumerate(grid.grids[1]):
        for j, x in enumerate(grid.grids[0]):
            name = two.run(1000, init={"x": x, "y": y}).outcome.name
            assert OUTCOMES[grid.classes[i, j]] == name


def test_chunked_work_equals_one_kernel_call(monkeypatch):
    """Long work runs in chunks (progress and Ctrl-C between them); the chunks must not change a single bit."""
    from numerics import iterated_map

    cubic = IteratedMap("uv-eos", values={"k": 1.29})
    whole = cubic.run(300_000, every=7).to_dict(), cubic.lyapunov(50_000, transient=20_000).to_dict()
    reports = []
    monkeypatch.setattr(iterated_map, "CHUNK_STEPS", 9_999)
    chunked = (cubic.run(300_000, every=7, progress=lambda done, total: reports.append(done)).to_dict(),
               cubic.lyapunov(50_000, transient=20_000, progress=lambda done, total: reports.append(done)).to_dict())
    assert chunked == whole and len(reports) > 20


def test_overflow_in_the_lyapunov_transient_is_reported_at_its_step():
    # k = 2.5 > 2: z0 = 0.5 leaves the invariant interval and overflows at step 8 (independent float loop below).
    z, k, step = np.float64(0.5), 2.5, 0
    with np.errstate(all="ignore"):
        while np.isfinite(z):
            z, step = (1 + k) * z - k * z ** 3, step + 1
    assert IteratedMap("uv-eos", values={"k": 2.5}).lyapunov(1000, transient=100).diverged_at == step == 8


def test_budgets_refuse_before_any_work():
    from analysis import ResourceLimitError

    cubic = IteratedMap("uv-eos", values={"k": 1.2}, max_memory="1M")
    with pytest.raises(ResourceLimitError, match="every=11445"):
        cubic.run(100_000_000, every=1000)
    with pytest.raises(ResourceLimitError, match="days"):
        IteratedMap("uv-eos", values={"k": 1.2}).lyapunov(1000, transient=10 ** 15)
    with pytest.raises(ResourceLimitError, match="lanes fit"):
        cubic.orbit_diagram(Axis("k", np.linspace(1, 1.2, 10_000)), steps=1000, keep=1000)


def test_a_hyperbola_of_minima_is_reported_at_a_point_on_it():
    """(theta1 theta2 - y)^2/2 at eta = 2, y = 1: the transverse multiplier 1 - eta (theta1^2 + theta2^2) never
    reaches -1 on theta1 = 1/theta2 (it is at most -3), so the set is reported at a finite point of it, not at
    theta2 = 0 (where theta1 = y/0)."""
    (line,) = [p for p in load_model("product").fixed_points_at({"eta": 2, "y": 1}) if p.line]
    assert line.coordinates == {"theta1": 1.0, "theta2": 1.0} and sorted(line.eigenvalues) == [-3.0, 1.0]
