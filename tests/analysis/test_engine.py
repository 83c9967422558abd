"""The derivation graph drives evaluation order and a disk cache keyed by the model's definition."""
import dataclasses
import os

import networkx as nx
import sympy as sp

from analysis import Derivation, load_model
from analysis.derivations import build_graph


def test_graph_is_a_dag_with_expected_edges():
    graph = build_graph()
    assert nx.is_directed_acyclic_graph(graph)
    assert graph.has_edge("function_map", "fixed_points")
    assert graph.has_edge("hessian_spectrum", "sharpness")
    assert nx.ancestors(graph, "eos_map") >= {"eos_manifold", "function_map", "gd_update", "state_definitions"}


def test_only_derives_requirements_and_nothing_more(tmp_path, monkeypatch):
    monkeypatch.setenv("SHARPNESS_CACHE_DIR", str(tmp_path))
    uv = load_model("uv", "sp")
    uv.jacobian
    assert uv.derivation.computed == ["gd_update", "state_definitions", "function_map", "jacobian"]
    assert "sharpness" not in uv.derivation.computed


def test_cache_is_used_and_keyed_by_definition(tmp_path, monkeypatch):
    monkeypatch.setenv("SHARPNESS_CACHE_DIR", str(tmp_path))
    cold = load_model("uv", "mup")
    cold.results()
    assert set(cold.derivation.computed) == set(cold.available)
    warm = load_model("uv", "mup")
    warm_results = warm.results()
    assert warm.derivation.computed == []  # loaded, not derived (benchmarks/ measures how fast)
    assert warm_results == cold.results()  # every field of every typed result, read back equal
    # A changed model definition is a different key, so its results are derived afresh, not read. (The engine's
    # own object: a DerivedModel has no way to change its description in place.)
    changed = Derivation("uv", "mup")
    changed.spec = dataclasses.replace(changed.spec, output=changed.spec.output * 2)
    assert changed.cache_key != warm.derivation.cache_key
    changed.result("function_map")
    assert changed.computed == ["gd_update", "state_definitions", "function_map"]
    doubled = changed.result("function_map").images
    f = sp.Symbol("f", real=True)
    assert sp.simplify(doubled[f] - warm.map.images[f]) != 0


def test_unwritable_cache_only_costs_speed(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("SHARPNESS_CACHE_DIR", str(blocked))
    assert load_model("uv-eos").sharpness.expression is not None
    assert os.path.isfile(blocked)
