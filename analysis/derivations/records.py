r"""Typed records inside derived results (one per fixed point, manifold or zero-loss set).

They hold SymPy objects keyed by the model's state symbols; :mod:`analysis.evaluate` turns them into numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy as sp


@dataclass(frozen=True)
class FixedPointSolution:
    r"""A solution of :math:`F(s) = s`: an isolated point, or a set with ``free`` state variables.

    ``coordinates`` maps every state symbol to its closed form, or ``None`` where it is free."""

    label: str
    coordinates: dict
    free: list

    @property
    def is_set(self) -> bool:
        return bool(self.free)


@dataclass(frozen=True)
class StabilityBoundary:
    r"""Where an eigenvalue :math:`\mu` of a fixed point reaches -1 (``flip``) or +1 (``fold``) as ``parameter``
    varies: ``parameter = value``."""

    kind: str
    eigenvalue: sp.Expr
    parameter: sp.Symbol
    value: sp.Expr


@dataclass(frozen=True)
class FixedPointStability:
    r"""Jacobian eigenvalues at a fixed point (or along a set: ``kind == "line"``, ``neutral`` eigenvalues
    identically 1), the inequalities for :math:`|\mu_i| < 1` (``attracting_if``; ``None`` where they are not
    derived: momentum maps of Gram models) and the flip/fold boundaries."""

    label: str
    eigenvalues: list
    neutral: int
    attracting_if: list
    boundaries: list
    kind: str


@dataclass(frozen=True)
class InvariantManifold:
    r"""An EoS manifold :math:`w_i = \sigma_i w`: the chart multiplier :math:`m` (:math:`\theta' = m\theta`), the
    relation :math:`R(f, \lambda) = 0`, :math:`\theta^2` in the output, the transverse multiplier :math:`R'/R`
    (``None`` if not polynomial) and the state on the manifold in the chart."""

    name: str
    signs: tuple
    multiplier: sp.Expr
    relation: sp.Expr
    theta_squared: sp.Expr
    transverse_multiplier: Optional[sp.Expr]
    output: sp.Expr
    kernel: sp.Expr


@dataclass(frozen=True)
class MomentumInvariantManifold:
    r"""An EoS manifold :math:`w_i = \sigma_i\theta e`, :math:`p_i = \sigma_i \nu e` under a momentum optimizer:
    ``reduced_map`` is the 2-D map ``{theta: theta', nu: nu'}`` the optimizer reduces to on it
    (:func:`analysis.derivations.eos.eos_manifold`)."""

    name: str
    signs: tuple
    reduced_map: dict


@dataclass(frozen=True)
class EoSReduction:
    r"""GD on an EoS manifold as the cubic normal form :math:`z' = (1 + k) z - k z^3`: ``k`` in the parameters,
    ``scale_squared`` :math:`s^2` of the chart :math:`\theta = s z`, the output map, :math:`z^2` in the output and
    the step at which the first flip (:math:`k = 1`) happens."""

    name: str
    k: sp.Expr
    scale_squared: sp.Expr
    normal_form: sp.Expr
    output_map: sp.Expr
    z_squared: sp.Expr
    first_flip_step: list


@dataclass(frozen=True)
class ZeroLossSet:
    r"""A set of minima (fixed points with :math:`L \equiv 0`): the sharpness on it, the flip sharpness
    :math:`2/\eta`, the transverse eigenvalues and, on a curve, the drift of the free coordinate and of the
    sharpness per squared oscillation amplitude (:func:`analysis.derivations.minima.minima`)."""

    coordinates: dict
    free: list
    sharpness: Optional[sp.Expr]
    flip_sharpness: sp.Expr
    transverse_eigenvalues: list = field(default_factory=list)
    drift: Optional[sp.Expr] = None
    sharpness_drift: Optional[sp.Expr] = None
    tangent: Optional[sp.Matrix] = None
    transverse_vector: Optional[sp.Matrix] = None
    neutral_left_vector: Optional[sp.Matrix] = None
