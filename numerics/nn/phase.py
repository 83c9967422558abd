r"""The early-training phase diagram of a real network beside the UV model's (Kalra, He & Barkeshli, arXiv
2311.02076, Sec. 4 and Fig. 3): each run of a grid is a point :math:`(\eta\lambda_0, n)` labelled with its early
regime, the characteristic regime of the run (:func:`numerics.classify.characteristic_regime`, the label of the
cells of ``sharpness phase-diagram --measure regime``: divergence, else catapult, else edge of stability, else
progressive sharpening, else early sharpness reduction, else intermediate saturation), against the UV model's at
the same :math:`\eta\lambda_0` and width over the same number of steps, in the matching parameterization
(:func:`numerics.nn.uv_parameterization`: muP for ``mup``, else SP), from zero output
(:func:`numerics.nn.uv_early_regime`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from ..classify import characteristic_regime
from .comparison import uv_early_regime, uv_parameterization


@dataclass(frozen=True)
class PhaseCell:
    r"""One run as a point of the phase diagram.

    Attributes
    ----------
    eta, width, init_scale : float, int, float
        The run's step size, width and initialization scale.
    parameterization : str
        The network's (:data:`numerics.nn.PARAMETERIZATIONS`).
    eta_lam0 : float or None
        :math:`\eta\lambda_0` (``None``: no measurement).
    early_regime : str
        The run's characteristic regime (``divergence`` if it diverged).
    final_sharpness_over_threshold : float or None
        The last measured sharpness over the threshold :math:`2/\eta`.
    uv_parameterization : str
        ``sp`` or ``mup``: the UV model's compared with.
    uv_early_regime : str or None
        The UV model's characteristic regime at the same :math:`\eta\lambda_0` and width over the run's steps
        (``None``: no :math:`\eta\lambda_0`, or a run under Adam, whose step is not GD's).
    agrees : bool or None
        ``early_regime == uv_early_regime`` (``None`` where there is no UV regime).
    """

    eta: float
    width: int
    init_scale: float
    parameterization: str
    eta_lam0: Optional[float]
    early_regime: str
    final_sharpness_over_threshold: Optional[float]
    uv_parameterization: str
    uv_early_regime: Optional[str]
    agrees: Optional[bool]

    def to_dict(self) -> dict:
        return asdict(self)


def phase_cell(run) -> PhaseCell:
    """The :class:`PhaseCell` of a :class:`~numerics.nn.Training`."""
    early = characteristic_regime((r.name for r in run.regimes), run.outcome.name == "diverged")
    uv_name = uv_parameterization(run.parameterization)
    uv = None
    if run.eta_lam0 and run.eta_lam0 > 0 and run.optimizer != "adam":
        uv = uv_early_regime(float(run.eta_lam0), int(run.width), int(run.steps), uv_name)
    final = run.final["sharpness"]
    return PhaseCell(eta=run.eta, width=run.width, init_scale=run.init_scale, parameterization=run.parameterization,
                     eta_lam0=run.eta_lam0, early_regime=early,
                     final_sharpness_over_threshold=None if final is None else final / run.threshold,
                     uv_parameterization=uv_name, uv_early_regime=uv, agrees=None if uv is None else early == uv)


@dataclass(frozen=True)
class PhaseDiagram:
    r"""The early regimes of a grid's runs beside the UV model's (module docstring).

    Attributes
    ----------
    cells : tuple of PhaseCell
        One per run, in the grid's order.
    compared, agreeing : int
        Cells with a UV regime, and those whose regimes agree.
    agreement_rate : float or None
        ``agreeing / compared`` (``None``: nothing compared).
    by_parameterization : dict
        ``{parameterization: {"compared", "agreeing", "agreement_rate"}}``.
    """

    cells: tuple

    @property
    def compared(self) -> int:
        return sum(cell.agrees is not None for cell in self.cells)

    @property
    def agreeing(self) -> int:
        return sum(bool(cell.agrees) for cell in self.cells)

    @property
    def agreement_rate(self) -> Optional[float]:
        return self.agreeing / self.compared if self.compared else None

    @property
    def by_parameterization(self) -> dict:
        groups = {}
        for cell in self.cells:
            groups.setdefault(cell.parameterization, []).append(cell)
        return {name: PhaseDiagram(tuple(cells)).summary() for name, cells in groups.items()}

    def summary(self) -> dict:
        """``{"compared", "agreeing", "agreement_rate"}``."""
        return {"compared": self.compared, "agreeing": self.agreeing, "agreement_rate": self.agreement_rate}

    def to_dict(self) -> dict:
        """The summary, ``by_parameterization`` and the ``cells`` (each :meth:`PhaseCell.to_dict`)."""
        return {**self.summary(), "by_parameterization": self.by_parameterization,
                "cells": [cell.to_dict() for cell in self.cells]}

    def plot(self, path: str, steps: int, points: int = 200) -> None:
        """The network's early regimes over :math:`(\\eta\\lambda_0, n)` beside the UV model's on the same axes
        (:func:`numerics.nn.plots.phase_figure`); the UV panel is computed on ``points`` values of
        :math:`\\eta\\lambda_0` per width over ``steps`` steps."""
        from .plots import phase_figure

        phase_figure(self, path, steps, points)

    def __repr__(self) -> str:
        rate = "-" if self.agreement_rate is None else f"{self.agreement_rate:.2f}"
        return f"PhaseDiagram({len(self.cells)} cells, {self.agreeing}/{self.compared} agree with the UV model: {rate})"
