r"""The derivation graph: results, their dependencies, and the records they return.

Every derivation is a function of a :class:`Context` (the model description and the results it depends on)
that returns its typed result (:mod:`analysis.derivations.results`); :func:`node` registers it with its dependencies, and :func:`build_graph` is the
networkx graph that :mod:`analysis.engine` evaluates in topological order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import networkx as nx
import sympy as sp

from ..model import CoordinateModel, GramModel

GRAM, COORDINATE = "gram", "coordinate"


@dataclass
class Equation:
    """One displayed equation: LaTeX left-hand side, SymPy right-hand side (an expression or a relation).
    ``heading``: plain text that opens a group of equations (e.g. the EoS manifold the next ones hold on), printed
    before it in the text and LaTeX output."""

    label: str
    lhs: str
    rhs: sp.Basic
    relation: str = "="
    heading: str = ""

    def to_dict(self) -> dict:
        """``{"label", "lhs", "relation", "rhs" (SymPy text), "latex"}``, and ``"heading"`` on an equation that opens
        a group, as ``sharpness derive --json`` prints it."""
        from ..latex import to_latex

        entry = {"label": self.label, "lhs": self.lhs, "relation": self.relation, "rhs": str(self.rhs),
                 "latex": to_latex(self.rhs)}
        return {**entry, "heading": self.heading} if self.heading else entry

    def __str__(self) -> str:
        lhs = f"{self.lhs} {self.relation} " if self.lhs else ""
        return f"{self.heading}\n  [{self.label}] {lhs}{self.rhs}" if self.heading else f"[{self.label}] {lhs}{self.rhs}"


@dataclass
class Context:
    model: object  # analysis.model.Model
    parameterization: str
    spec: object  # GramModel or CoordinateModel
    inputs: dict  # name -> the typed result of each dependency

    @property
    def state_symbols(self) -> list:
        return [s.symbol for s in self.spec.state]

    def __getitem__(self, name):
        """The typed result (:mod:`analysis.derivations.results`) of dependency ``name``."""
        return self.inputs[name]


@dataclass(frozen=True)
class Node:
    name: str
    title: str
    depends_on: tuple
    kinds: tuple
    derive: Callable
    applies: Callable = lambda spec: True  # whether the node exists for a description (e.g. SGD's only with SGD)


NODES: dict = {}


def node(name, title, depends_on=(), kinds=(GRAM, COORDINATE), applies=None):
    def register(function):
        NODES[name] = Node(name, title, tuple(depends_on), tuple(kinds), function,
                           *(() if applies is None else (applies,)))
        return function
    return register


def kind_of(spec) -> str:
    if isinstance(spec, GramModel):
        return GRAM
    if isinstance(spec, CoordinateModel):
        return COORDINATE
    raise TypeError(f"not a model description: {spec!r}")


def build_graph() -> nx.DiGraph:
    """The derivation graph: nodes are results, an edge ``a -> b`` reads "b is derived from a"."""
    graph = nx.DiGraph()
    for node in NODES.values():
        graph.add_node(node.name, title=node.title, kinds=node.kinds)
        for dependency in node.depends_on:
            graph.add_edge(dependency, node.name)
    if not nx.is_directed_acyclic_graph(graph):
        raise RuntimeError("the derivation graph has a cycle")
    return graph

