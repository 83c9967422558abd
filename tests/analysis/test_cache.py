"""The on-disk derivation cache is verified before it is trusted: whatever is in an entry, the engine hands out a
correct result, re-deriving (and reporting) anything it cannot verify, and never runs code from the file."""
import dataclasses
import hashlib
import importlib
import io
import json
import os
import pickle
import re
import signal
import threading
import time

import pytest
import sympy as sp

from analysis import Derivation, cache, get_model, model_names
from analysis.errors import DerivationTimeout

REPORT = re.compile(r"^sharpness: cache entry (\S+) failed verification \((.+)\); re-deriving$")


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """A cache of this test's own, so that corrupting entries never affects another test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("SHARPNESS_CACHE_DIR", str(root))
    return root


def _cold(model="uv-eos", parameterization=None, name="fixed_points"):
    """A derivation that has just written the entry of ``name`` (and what it needs), its result and the path."""
    derivation = Derivation(model, parameterization)
    fresh = derivation.result(name)
    path = derivation._cache_path(name)
    assert path.is_file()
    return derivation, fresh, path


def _assert_rederived(capsys, model, parameterization, name, fresh, path):
    """A new derivation re-derives exactly ``name`` (its inputs still come from the cache), hands out the fresh
    result, reports the bad entry in one stderr line and leaves a valid entry behind."""
    capsys.readouterr()
    again = Derivation(model, parameterization)
    assert again.result(name) == fresh
    assert again.computed == [name]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and REPORT.match(lines[0]), lines
    assert REPORT.match(lines[0]).group(1) == str(path)
    # The rewritten entry verifies: a third derivation reads everything and derives nothing, silently.
    third = Derivation(model, parameterization)
    assert third.result(name) == fresh and third.computed == []
    assert capsys.readouterr().err == ""
    assert not list(path.parent.glob(".*.tmp"))  # atomic writes leave no temporary files behind
    return REPORT.match(lines[0]).group(2)


def _fixed_point(result, label):
    """The coordinates of the fixed point ``label``."""
    (point,) = [p for p in result.solutions if p.label == label]
    return point.coordinates


@pytest.mark.parametrize("content", [
    pytest.param(lambda path: b"\x00\xffnot an entry\n" * 20, id="garbage"),
    # A valid pickle of something else: unpickling alone would accept it and hand out a dict as the result.
    pytest.param(lambda path: pickle.dumps({"x": 1}), id="foreign-pickle"),
    pytest.param(lambda path: path.read_bytes()[:-40], id="truncated"),
    pytest.param(lambda path: b"", id="empty"),
    # The entry of another result of the same model: right key and checksum, wrong name.
    pytest.param(lambda path: (path.parent / "function_map.pickle").read_bytes(), id="other-result"),
])
def test_unverifiable_entry_is_rederived(cache_root, capsys, content):
    _, fresh, path = _cold()
    path.write_bytes(content(path))
    _assert_rederived(capsys, "uv-eos", None, "fixed_points", fresh, path)


def test_entry_of_another_parameterization_is_detected_by_its_key(cache_root, capsys):
    # The sp entry is a perfectly valid entry (checksum and all), only for another key: copied over the mup
    # entry it must not be served as the mup fixed points.
    _, sp_result, sp_path = _cold("uv", "sp")
    _, mup_fresh, mup_path = _cold("uv", "mup")
    mup_path.write_bytes(sp_path.read_bytes())
    reason = _assert_rederived(capsys, "uv", "mup", "fixed_points", mup_fresh, mup_path)
    assert "another" in reason
    # The coordinates are the muP ones: at eta=1/2, x=y=1, n=4 point III has f = (eta x y + 2)/(eta x) = 5 in
    # muP, whereas SP has 2 sqrt(n) in place of 2, f = 9.
    values = {sp.Symbol("eta", positive=True): sp.Rational(1, 2), sp.Symbol("n", positive=True): 4,
              sp.Symbol("x", positive=True): 1, sp.Symbol("y", real=True): 1}
    output = sp.Symbol("f", real=True)
    reread = Derivation("uv", "mup").result("fixed_points")
    assert _fixed_point(reread, "III")[output].subs(values) == 5
    assert _fixed_point(sp_result, "III")[output].subs(values) == 9


def test_single_bit_flips_never_give_a_wrong_result(cache_root, capsys):
    _, fresh, path = _cold()
    original = path.read_bytes()
    offsets = sorted({round(i * (len(original) - 1) / 19) for i in range(20)})  # magic, header and payload
    for i, offset in enumerate(offsets):
        flipped = bytearray(original)
        flipped[offset] ^= 1 << (i % 8)
        path.write_bytes(bytes(flipped))
        # Every single flip is caught (the magic and header are compared exactly, the payload by its SHA-256),
        # so the result is always re-derived, never read from a damaged entry.
        _assert_rederived(capsys, "uv-eos", None, "fixed_points", fresh, path)
    assert cache.load(path.parent, Derivation("uv-eos").cache_key, "fixed_points") == fresh


class _Call:
    """Pickles as a call of ``function(*args)`` (then ``state`` set on the result): what a crafted entry would run
    on unpickling."""

    def __init__(self, function, *args, state=None):
        self.function, self.args, self.state = function, args, state

    def __reduce__(self):
        return (self.function, self.args) + (() if self.state is None else (self.state,))


def _attacks(marker):
    code = f"__import__('os').system('touch {marker}')"
    return {
        "os.system": _Call(os.system, f"touch {marker}"),
        "exec": _Call(exec, code),
        # Max is a class results need, but it passes its arguments through sympify, which evaluates strings:
        # as an argument, the string would run on loading; planted in its state, on the next re-evaluation.
        "sympy-eval": _Call(sp.Max, code),
        "sympy-state": _Call(sp.Max, sp.Symbol("a"), sp.Integer(1), state={"_args": (code,)}),
    }


@pytest.mark.parametrize("attack", ["os.system", "exec", "sympy-eval", "sympy-state"])
@pytest.mark.parametrize("with_header", [False, True], ids=["raw", "with-valid-header"])
def test_crafted_pickle_is_refused_not_run(cache_root, capsys, tmp_path, attack, with_header):
    derivation, fresh, path = _cold()
    marker = tmp_path / "MARKER"
    payload = pickle.dumps(_attacks(marker)[attack], protocol=pickle.HIGHEST_PROTOCOL)
    if with_header:
        # Written by the cache's own writer: header, key, name and checksum all verify, so only the restricted
        # unpickler stands between the payload and its execution.
        cache.store(path.parent, derivation.cache_key, "fixed_points", payload)
    else:
        path.write_bytes(payload)
    reason = _assert_rederived(capsys, "uv-eos", None, "fixed_points", fresh, path)
    assert not marker.exists()
    assert ("refused" in reason) if with_header else ("not a cache entry" in reason)


def test_every_result_of_every_model_loads_through_the_whitelist(capsys):
    # Uses the session cache: entries written by any test (or here) must be read back by the restricted
    # unpickler without a single refusal, else the whitelist has fallen behind the results. The user losses
    # bring in elementary functions and what solving for their fixed points returns (LambertW, asin, pi).
    models = [get_model(name) for name in model_names()] + [get_model("product", depth=3)] + [
        get_model("product", loss=loss) for loss in ("exp(a) + a^2", "(sin(a) - 1/3)^2")]
    for model in models:
        for parameterization in model.parameterizations:
            first = Derivation(model, parameterization).results()
            again = Derivation(model, parameterization)
            assert again.results() == first
            assert again.computed == [], (model.name, parameterization)
    assert capsys.readouterr().err == ""


def test_key_covers_the_model_declaration():
    # Same description, a different declaration: a parameter's domain or default, a state default. Each may
    # change what is derived (or how it is evaluated), so each must be a different key.
    model = get_model("uv")
    y_index = [p.name for p in model.parameters].index("y")

    def with_parameter(**changes):
        parameters = list(model.parameters)
        parameters[y_index] = dataclasses.replace(parameters[y_index], **changes)
        return dataclasses.replace(model, parameters=tuple(parameters))

    state = (dataclasses.replace(model.state[0], default=sp.Integer(1)),) + tuple(model.state[1:])
    variants = [model, with_parameter(domain="positive"), with_parameter(default=sp.Integer(2)),
                dataclasses.replace(model, state=state), dataclasses.replace(model, options={"depth": 2})]
    keys = [Derivation(m, "sp").cache_key for m in variants]
    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(r"[0-9a-f]{64}", key) for key in keys)  # a full SHA-256
    assert Derivation(model, "sp").cache_key == keys[0]  # and stable
    assert Derivation(model, "mup").cache_key != keys[0]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
def test_time_budget_stops_a_long_derivation_and_restores_the_timer():
    # An outer alarm (as a caller might have) must survive: same handler, still armed afterwards.
    def outer(signum, frame):
        raise AssertionError("the outer alarm must not fire during the test")

    previous = signal.signal(signal.SIGALRM, outer)
    signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        derivation = Derivation("uv", "sp", use_cache=False, time_budget=0.01)
        start = time.process_time()
        with pytest.raises(DerivationTimeout, match="took longer than 0.01 s"):
            derivation.result("function_map")
        # CPU, not wall, time: a loaded machine stretches the wall clock, not the work done before the alarm.
        assert time.process_time() - start < 10
        assert signal.getsignal(signal.SIGALRM) is outer
        assert 90 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_time_budget_applies_only_in_the_main_thread():
    # Signal handlers run in the main thread only, so elsewhere the budget cannot be enforced and is not: a
    # budget no step can meet still lets the derivation finish.
    outcome = {}

    def run():
        try:
            outcome["result"] = Derivation("uv-eos", use_cache=False, time_budget=1e-6).result("fixed_points")
        except Exception as error:  # reported below
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert "error" not in outcome and outcome["result"].solutions
    with pytest.raises(DerivationTimeout):
        Derivation("uv-eos", use_cache=False, time_budget=1e-6).result("fixed_points")


def test_entry_of_the_previous_format_is_rebuilt_not_misread(cache_root, capsys):
    # Format 1 pickled the generic Result (fields in a dict). An entry in that format, under the current key and
    # name with a valid checksum (as a cache written before typed results would hold it, were the key the same),
    # is a miss: re-derived into the typed result and overwritten, never unpickled into a class it does not fit.
    derivation, fresh, path = _cold()
    payload = pickle.dumps({"name": "fixed_points", "data": {"fixed_points": fresh.solutions}},
                           protocol=pickle.HIGHEST_PROTOCOL)
    header = {"format": 1, "key": derivation.cache_key, "name": "fixed_points",
              "sha256": hashlib.sha256(payload).hexdigest(), "length": len(payload)}
    path.write_bytes(cache.MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload)
    reason = _assert_rederived(capsys, "uv-eos", None, "fixed_points", fresh, path)
    assert reason == f"format 1, expected {cache.FORMAT_VERSION}" and cache.FORMAT_VERSION == 3


def test_the_allowlist_names_exactly_the_result_classes():
    # Every typed result and record class is allowed (else its entries are refused and re-derived on every run),
    # and nothing else of the package is: the allowlist is the list of what results are made of.
    from analysis import derivations
    from analysis.derivations import records

    expected = {cls for cls in derivations.RESULT_CLASSES}
    expected |= {cls for cls in vars(records).values() if isinstance(cls, type) and cls.__module__ == records.__name__}
    expected |= {derivations.FlipCoefficient, derivations.Equation}
    allowed = {getattr(importlib.import_module(module), name)
               for module, names in cache.ANALYSIS_RESULT_CLASSES.items() for name in names}
    assert allowed == expected
    unpickler = cache.RestrictedUnpickler(io.BytesIO(b""))
    for cls in expected:
        assert unpickler.find_class(cls.__module__, cls.__name__) is cls
    # A dataclass of the package that is not a result part (the model description) is refused.
    with pytest.raises(pickle.UnpicklingError):
        unpickler.find_class("analysis.model", "Parameter")


def test_typed_results_pickle_through_the_cache(cache_root):
    # Written by the engine, read back by the restricted unpickler: the same class, equal in every field.
    fresh = Derivation("uv", "mup").results()
    again = Derivation("uv", "mup")
    read = again.results()
    assert again.computed == [] and [type(r) for r in read] == [type(r) for r in fresh] and read == fresh
    assert {type(r).__name__ for r in read} >= {"FunctionMap", "Sharpness", "FixedPoints", "Stability", "Minima",
                                                "EoSManifolds", "EoSMap", "NormalForm"}
