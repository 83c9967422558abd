"""Typed derivation results: one dataclass per node of the derivation graph, its fields documented and named for
what they hold, a one-line repr, and ``to_dict()`` exactly the ``sharpness derive --json`` of before the change.

The JSON files in ``tests/analysis/derivations/data/derive_json`` are ``sharpness derive MODEL --json`` as printed by commit df2e7ad,
the last one with the generic ``Result`` (fields in a dict), except ``two-input.json``, rewritten once when the
model's target ``beta`` became ``y`` (the momentum coefficient is ``beta`` on every model): they pin the JSON that
typed results must reproduce byte for byte. A derivation change that legitimately changes an equation changes them
too (regenerate with the command in each test's id and review the diff).
"""
import dataclasses
import inspect
import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import sympy as sp

from analysis import derivations, load_model
from analysis.derivations import NODES, RESULT_CLASSES, DerivedResult
from numerics.cli import main

GOLDEN = Path(__file__).parent / "data" / "derive_json"
CASES = {  # golden file -> the derive arguments
    "uv-mup": ["uv", "-p", "mup"],
    "uv-sp": ["uv", "-p", "sp"],
    "uv-eos": ["uv-eos"],
    "product-loss": ["product", "--loss", "(a*b - y)^2/2 + c^2"],
    "two-input": ["two-input"],
}


def _documented_attributes(cls) -> list:
    """The names listed in the numpy-style ``Attributes`` section of ``cls``'s docstring, in order."""
    section = inspect.getdoc(cls).split("Attributes\n----------\n", 1)[1]
    return re.findall(r"^(\w+) : ", section, flags=re.MULTILINE)


@pytest.mark.parametrize("cls", RESULT_CLASSES, ids=lambda c: c.__name__)
def test_every_field_is_documented_and_help_lists_it(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    own = [n for n in names if n not in ("equations", "notes")]
    assert own and _documented_attributes(cls) == own
    # help() shows the signature (every field) and the docstring (every field with what it holds).
    text = io.StringIO()
    with redirect_stdout(text):
        help(cls)
    shown = text.getvalue()
    signature = inspect.signature(cls)
    for name in names:
        assert name in signature.parameters and f"{name} : " in shown or name in ("equations", "notes")
    assert "equations : list of Equation" in inspect.getdoc(DerivedResult)
    # One class per node, and its node exists: title and to_dict come from there.
    assert cls.name in NODES and issubclass(cls, DerivedResult)


def test_one_class_per_node():
    assert sorted(cls.name for cls in RESULT_CLASSES) == sorted(NODES)


def test_results_are_read_through_named_fields_only():
    uv = load_model("uv", "mup")
    sharpness = uv.sharpness
    assert isinstance(sharpness, derivations.Sharpness) and sharpness.hessian is None
    assert str(sharpness.expression) == "lam/2 + sqrt(12*f**2*x**2 - 16*f*x**2*y + lam**2 + 4*x**2*y**2)/2"
    assert set(uv.map.images) == {sp.Symbol("f", real=True), sp.Symbol("lam", real=True)}
    assert [p.label for p in uv.stability.points] == [p.label for p in uv.fixed_points.solutions]
    assert [r.name for r in uv.eos_map.reductions] == [m.name for m in uv.eos_manifold.manifolds]
    # No field dict and no attribute fallback: a name that is not a field is an AttributeError.
    for missing in ("data", "sharpness", "fields"):
        with pytest.raises(AttributeError):
            getattr(sharpness, missing)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sharpness.expression = sp.Integer(0)


def test_repr_is_one_short_line_and_str_lists_the_equations():
    uv = load_model("uv", "mup")
    for result in uv.results():
        text = repr(result)
        assert "\n" not in text and len(text) < 400 and text.startswith(type(result).__name__ + "(")
    assert repr(uv.fixed_points) == "FixedPoints(solutions=[I, II, III, IV]; 7 equations)"
    assert str(uv.sharpness).splitlines()[1].startswith("  [sharpness] S = ")
    assert uv.sharpness.title == NODES["sharpness"].title


@pytest.mark.parametrize("case", sorted(CASES))
def test_to_dict_is_the_derive_json_of_before(case, capsys):
    golden_text = (GOLDEN / f"{case}.json").read_text()
    model, *rest = CASES[case]
    options = {"parameterization": rest[1]} if rest[:1] == ["-p"] else {}
    if rest[:1] == ["--loss"]:
        options["loss"] = rest[1]
    derived = load_model(model, options.pop("parameterization", None), **options)
    # The API's dict, through JSON, equals the file; the command prints the file byte for byte.
    assert json.loads(json.dumps(derived.to_dict())) == json.loads(golden_text)
    assert {name: type(r).name for name, r in zip(derived.available, derived.results())} == \
        {name: name for name in derived.available}
    capsys.readouterr()
    assert main(["derive", *CASES[case], "--json"]) == 0
    assert capsys.readouterr().out == golden_text
