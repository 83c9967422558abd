"""The report's sections, in report order: one record per section with everything the report does with it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .cascade import (section_cascade, section_chebyshev, section_lyapunov_sweep, tex_cascade, tex_chebyshev,
                      tex_lyapunov_sweep)
from .central_flow import NETWORK_FIGURE, TOY_FIGURE, section_central_flow, tex_central_flow
from .continuation import section_continuation, tex_continuation
from .crosscheck import section_crosscheck, section_width_scan, tex_crosscheck, tex_width_scan
from .momentum import FIGURE as MOMENTUM_FIGURE
from .momentum import section_momentum, tex_momentum
from .network import section_nn, tex_nn
from .network_phase import FIGURE as NN_PHASE_FIGURE
from .network_phase import section_nn_phase, tex_nn_phase
from .sgd_adam import FIGURE as SGD_ADAM_FIGURE
from .sgd_adam import section_sgd_adam, tex_sgd_adam
from .uv import (section_fixed_points, section_phase_diagram, section_trajectories, tex_fixed_points,
                 tex_phase_diagram, tex_trajectories)
from .xy_quartic import section_xy_quartic, tex_xy_quartic


@dataclass(frozen=True)
class Section:
    """One section of the report.

    ``name``: its key in ``results.json`` (``sections``); ``compute(run)``: its record(s), each with the ``sharpness``
    command that prints it, given the report's :class:`~numerics.report.runner.Run` (which also writes the
    figures); ``figures``: the figures ``compute`` draws (each as PNG and PDF; a checkpointed section is reused only
    while they are intact); ``tex(record, results)``: its LaTeX lines."""

    name: str
    compute: Callable
    figures: tuple
    tex: Callable


SECTIONS = (
    Section("fixed_points", section_fixed_points, ("uv_flow",), tex_fixed_points),
    Section("trajectories", section_trajectories, ("uv_trajectories",), tex_trajectories),
    Section("phase_diagram", section_phase_diagram, ("uv_phase_diagram",), tex_phase_diagram),
    Section("cascade", section_cascade, ("uv_eos_orbit", "feigenbaum_delta"), tex_cascade),
    Section("lyapunov_sweep", section_lyapunov_sweep, ("uv_eos_lyapunov",), tex_lyapunov_sweep),
    Section("chebyshev", section_chebyshev, (), tex_chebyshev),
    Section("xy_quartic", section_xy_quartic, ("xy_quartic_gap",), tex_xy_quartic),
    Section("width_scan", section_width_scan, ("crosscheck_errors",), tex_width_scan),
    Section("crosscheck", section_crosscheck, (), tex_crosscheck),
    Section("nn", section_nn, ("nn_sharpness",), tex_nn),
    Section("nn_phase", section_nn_phase, (NN_PHASE_FIGURE,), tex_nn_phase),
    Section("central_flow", section_central_flow, (TOY_FIGURE, NETWORK_FIGURE), tex_central_flow),
    Section("continuation", section_continuation, ("uv_flip_curves",), tex_continuation),
    Section("momentum", section_momentum, (MOMENTUM_FIGURE,), tex_momentum),
    Section("sgd_adam", section_sgd_adam, (SGD_ADAM_FIGURE,), tex_sgd_adam),
)
FIGURES = tuple(figure for section in SECTIONS for figure in section.figures)
