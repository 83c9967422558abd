r"""The derivation graph: results, their dependencies, and the records they return.

Every derivation is a function of a :class:`Context` (the model description and the results it depends on)
that returns a :class:`Result`; :func:`node` registers it with its dependencies, and :func:`build_graph` is the
networkx graph that :mod:`analysis.engine` evaluates in topological order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import networkx as nx
import sympy as sp

from ..model import CoordinateModel, GramModel

GRAM, COORDINATE = "gram", "coordinate"


@dataclass
class Equation:
    """One displayed equation: LaTeX left-hand side, SymPy right-hand side (an expression or a relation)."""

    label: str
    lhs: str
    rhs: sp.Basic
    relation: str = "="

    def to_dict(self) -> dict:
        """``{"label", "lhs", "relation", "rhs" (SymPy text), "latex"}``, as ``sharpness derive --json`` prints it."""
        from ..latex import to_latex

        return {"label": self.label, "lhs": self.lhs, "relation": self.relation, "rhs": str(self.rhs),
                "latex": to_latex(self.rhs)}

    def __str__(self) -> str:
        lhs = f"{self.lhs} {self.relation} " if self.lhs else ""
        return f"[{self.label}] {lhs}{self.rhs}"


@dataclass
class Result:
    """One derived result: its fields (``data``, also readable as attributes), displayed equations and notes.

    ``result.sharpness`` is ``result.data["sharpness"]``; the fields of each result are listed in its
    derivation's docstring (e.g. :func:`analysis.derivations.fixed_points.fixed_points`) and by ``fields``.
    """

    name: str
    title: str
    data: dict
    equations: list = field(default_factory=list)
    notes: str = ""

    @property
    def fields(self) -> list:
        return list(self.data)

    def __getattr__(self, key):
        # Only called for names that are not dataclass fields; private names (pickle's probes) are not data.
        data = self.__dict__.get("data")
        if key.startswith("_") or data is None or key not in data:
            known = ", ".join(data) if data else "none"
            raise AttributeError(f"result {self.__dict__.get('name')!r} has no field {key!r}; fields: {known}")
        return data[key]

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.__dict__.get("data") or ()))

    def to_dict(self) -> dict:
        """``{"title", "notes", "equations"}``: this result in ``sharpness derive --json``."""
        return {"title": self.title, "notes": self.notes, "equations": [e.to_dict() for e in self.equations]}

    def __repr__(self) -> str:
        lines = [f"<{self.name}: {self.title}>"] + [f"  {e}" for e in self.equations[:12]]
        if len(self.equations) > 12:
            lines.append(f"  ... ({len(self.equations) - 12} more equations)")
        return "\n".join(lines)


@dataclass
class Context:
    model: object  # analysis.model.Model
    parameterization: str
    spec: object  # GramModel or CoordinateModel
    inputs: dict  # name -> Result of each dependency

    @property
    def state_symbols(self) -> list:
        return [s.symbol for s in self.spec.state]

    def __getitem__(self, name) -> dict:
        return self.inputs[name].data


@dataclass(frozen=True)
class Node:
    name: str
    title: str
    depends_on: tuple
    kinds: tuple
    derive: Callable


NODES: dict = {}


def node(name, title, depends_on=(), kinds=(GRAM, COORDINATE)):
    def register(function):
        NODES[name] = Node(name, title, tuple(depends_on), tuple(kinds), function)
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

