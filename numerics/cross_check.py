r"""Cross-checks of the derived map against GD on the model's own parameters, for every model.

The parameter-space side (:mod:`numerics.parameter_space`) is built from the model's *description* only (the
output and loss of a :class:`~analysis.GramModel` at a concrete width, or the loss of a
:class:`~analysis.CoordinateModel`), never from the derived function-space map, so agreement at round-off is an
independent check of the derivation: numpy float64 (symbolic derivatives of the description's loss) and, when
installed, PyTorch autograd (float64, CPU). Sharpness there is the largest *algebraic* Hessian eigenvalue in the
metric of the learning rates (dense ``eigvalsh`` for up to 16 parameters, else Lanczos, ``eigsh(which='LA')``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from analysis import DerivedModel
from analysis.errors import DomainError, UserInputError
from analysis.values import to_count, value_mapping

from . import budget
from .classify import Outcome
from .parameter_space import ParameterSpaceGD, run as run_parameter_space

BOUNDED = 1e8  # errors are compared while the state stays below this (a blow-up says nothing about the map)


@dataclass(frozen=True)
class CrossCheck:
    r"""The derived map against parameter-space GD from the same start, step by step.

    Attributes
    ----------
    model, parameterization : str
        The model checked.
    width : int or None
        The width :math:`n` of the network (``None`` for a coordinate model, whose parameters are its state).
    steps, seed : int
        GD steps compared, and the seed of the initial draw.
    parameters : dict
        ``{name: float}``: the parameter values of the run.
    initial : dict
        ``{state name: float}``: the common initial state.
    max_abs_error : dict
        ``{state name: float}``: :math:`\max_t |s^{\text{map}}_t - s^{\text{GD}}_t|` over the compared steps.
    max_rel_error_sharpness : float
        The largest relative difference of the derived sharpness and parameter-space GD's top Hessian eigenvalue.
    final : dict
        GD's final state and ``sharpness``.
    outcome : dict
        Parameter-space GD's outcome (``completed`` or ``diverged`` with its step).
    errors : dict
        Per-step errors: ``{state name: list}`` and ``sharpness_rel``.
    compared_steps : int
        Steps compared (while the state stays below :data:`BOUNDED`).
    error_growth_rate : float or None
        The slope of log error per step, where the error grows over at least 10 steps (else ``None``).
    lyapunov : float or None
        The largest Lyapunov exponent along the same steps: round-off grows at this rate on a chaotic orbit.
    growth_window : list or None
        ``[first, last]``: the steps of that fit.
    torch : dict or None
        The same errors against PyTorch autograd (float64), when it ran.
    torch_vs_numpy_max_abs : float or None
        PyTorch against numpy on the first state variable.

    ``to_dict()`` is ``sharpness crosscheck --json``, with the errors flattened to ``max_abs_error_<state>``.
    """

    model: str
    parameterization: str
    width: Optional[int]
    steps: int
    seed: int
    parameters: dict
    initial: dict
    max_abs_error: dict
    max_rel_error_sharpness: float
    final: dict
    outcome: dict
    errors: dict
    compared_steps: int
    error_growth_rate: Optional[float]
    lyapunov: Optional[float]
    growth_window: Optional[list] = None
    torch: Optional[dict] = None
    torch_vs_numpy_max_abs: Optional[float] = None

    def __repr__(self) -> str:
        errors = ", ".join(f"{name}: {error:.1e}" for name, error in self.max_abs_error.items())
        return (f"CrossCheck({self.model}, width={self.width}, steps={self.steps}: max |error| {errors}; "
                f"sharpness rel {self.max_rel_error_sharpness:.1e})")

    def to_dict(self) -> dict:
        payload = {"model": self.model, "parameterization": self.parameterization, "width": self.width,
                   "steps": self.steps, "seed": self.seed, "parameters": self.parameters, "initial": self.initial}
        payload.update({f"max_abs_error_{name}": error for name, error in self.max_abs_error.items()})
        payload.update({"max_rel_error_sharpness": self.max_rel_error_sharpness, "final": self.final,
                        "outcome": self.outcome, "errors": self.errors, "compared_steps": self.compared_steps})
        payload.update({"error_growth_rate": self.error_growth_rate, "lyapunov": self.lyapunov})
        if self.growth_window is not None:
            payload["growth_window"] = self.growth_window
        if self.torch is not None:
            payload["torch"] = self.torch
            payload[f"torch_vs_numpy_max_abs_{next(iter(self.initial))}"] = self.torch_vs_numpy_max_abs
        return payload


def _bind(model, values: dict, width):
    """The derived model, its width parameter (``None`` for coordinate models) and the values at that width."""
    from .iterated_map import IteratedMap

    if isinstance(model, IteratedMap):
        values = {**model.value_map, **values}
        model = model.model
    derived = model if isinstance(model, DerivedModel) else DerivedModel(model)
    spec = derived.description
    width_name = getattr(getattr(spec, "width", None), "name", None)
    if width_name is None:
        if width is not None:
            raise UserInputError(f"width belongs to width-n models; {derived.name!r} is a coordinate model "
                                 "(its parameters are the state itself)")
        return derived, None, values
    width = to_count("width", width)
    given = values.get(width_name)
    if given is not None and float(given) != float(width):
        raise DomainError(width_name, given, f"equal to the width ({width}) or not given: the width is {width_name}")
    return derived, width_name, {**values, width_name: int(width)}


def crosscheck(model, values=None, *, width=None, steps: int = 100, seed: int = 0, use_torch: bool = True,
               init=None, progress=None, max_memory=None) -> CrossCheck:
    r"""Parameter-space GD (width ``width`` for width-n models, from a seeded standard initialisation
    :math:`w_i \sim \mathcal N(0, I_n)`; from ``init`` or the model's default state for coordinate models)
    against the derived map from the same initial state, over ``steps`` steps; ``values`` (``{name: value}``)
    are the model's parameter values."""
    from .iterated_map import IteratedMap

    derived, width_name, values = _bind(model, value_mapping(values), width)
    seed, steps = to_count("seed", seed, 0), to_count("steps", steps)
    size = len(getattr(derived.description, "vectors", ())) * (width or 0) or len(derived.model.state)
    budget.check_memory(size * 8 * 40 + (steps + 1) * 8 * 8, f"a cross-check with {size:,} parameters",
                        "use a smaller width", max_memory)
    budget.check_work(size * (steps + 1) * 60, f"a cross-check of {steps} steps with {size:,} parameters")
    if width_name and init:
        raise UserInputError(f"a width-n model's initial state is drawn at the width from the seed (u, v ~ N(0, I_n)); "
                             f"{derived.name!r} takes no initial values in a cross-check (choose another seed instead)")
    bound = IteratedMap(derived, values)  # validates every value against its domain
    numbers = dict(bound.parameters)
    gd = ParameterSpaceGD(derived.model, derived.parameterization, numbers, width=width,
                          initial=None if width_name else init, seed=seed, backend="numpy")
    names = list(bound.compiled.state_names)
    reference = run_parameter_space(gd, steps, progress)
    measured = np.column_stack([reference["state"][n] for n in names]) if len(reference["loss"]) else np.empty((0, len(names)))
    if len(measured) == 0:
        raise DomainError("the initial state", "non-finite", "finite (parameter-space GD overflowed at once)")
    params = bound._params
    orbit = [measured[0]]
    with np.errstate(all="ignore"):
        for _ in range(len(measured) - 1):
            orbit.append(np.array(bound.compiled.step_numpy(*orbit[-1], *params), dtype=float))
        orbit = np.array(orbit)
        derived_sharpness = np.broadcast_to(np.asarray(bound.compiled.sharpness_numpy(*orbit.T, *params), float),
                                            (len(orbit),))
    bounded = np.nonzero(np.abs(measured).max(axis=1) < BOUNDED)[0]
    compared = slice(0, int(bounded[-1]) + 1 if len(bounded) else 1)
    errors = {n: np.abs(orbit[compared, i] - measured[compared, i]) for i, n in enumerate(names)}
    measured_sharpness = reference["sharpness"][compared]
    rel_sharp = np.abs(derived_sharpness[compared] - measured_sharpness) / np.maximum(np.abs(measured_sharpness), 1e-300)
    torch_errors = torch_vs_numpy = None
    if use_torch and reference["outcome"]["name"] == "completed":
        try:
            torch_gd = ParameterSpaceGD(derived.model, derived.parameterization, numbers, width=width,
                                        initial=None if width_name else init, seed=seed, backend="torch")
        except ImportError:
            torch_gd = None
        if torch_gd is not None:
            import torch

            # Tiny tensors: torch's thread pool costs up to 30x under load (measured); one thread for this run.
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                other = run_parameter_space(torch_gd, steps)
            finally:
                torch.set_num_threads(threads)
            torch_state = np.column_stack([other["state"][n] for n in names])
            torch_errors = {**{f"max_abs_error_{n}": float(np.abs(orbit[:, i] - torch_state[:, i]).max())
                               for i, n in enumerate(names)},
                            "max_rel_error_sharpness": float((np.abs(derived_sharpness - other["sharpness"])
                                                              / np.abs(other["sharpness"])).max())}
            torch_vs_numpy = float(np.abs(torch_state[:, 0] - measured[:, 0]).max())
    return CrossCheck(
        model=derived.name, parameterization=derived.parameterization, width=width, steps=steps, seed=seed,
        parameters=numbers, initial=dict(zip(names, map(float, measured[0]))),
        max_abs_error={n: float(e.max()) for n, e in errors.items()},
        max_rel_error_sharpness=float(rel_sharp.max()),
        final={**dict(zip(names, map(float, measured[-1]))), "sharpness": float(reference["sharpness"][-1])},
        outcome=reference["outcome"],
        errors={**{n: e.tolist() for n, e in errors.items()}, "sharpness_rel": rel_sharp.tolist()},
        compared_steps=len(rel_sharp),
        **_growth(bound, orbit[compared], np.max(np.column_stack(list(errors.values())), axis=1)),
        torch=torch_errors, torch_vs_numpy_max_abs=torch_vs_numpy)


def _growth(bound, orbit, error) -> dict:
    """Error growth rate against the largest Lyapunov exponent, where the error grows over >= 10 steps."""
    scale = 1 + np.abs(orbit).max()
    window = np.nonzero((error > 1e-13 * scale) & (error < 1e-3 * scale))[0]
    if len(window) < 10 or error[window[-1]] < 1e3 * error[window[0]]:
        return {"error_growth_rate": None, "lyapunov": None}
    steps = np.arange(window[0], window[-1] + 1)
    slope = np.polyfit(steps, np.log(np.maximum(error[steps], 1e-300)), 1)[0]
    # The one estimator (Benettin's step along the stored states), over the whole window as one batch.
    exponent = bound.compiled.stretch_sums(orbit[steps][None], bound._params[None], len(steps) - 1)[0, 0, 0] \
        / (len(steps) - 1)
    return {"error_growth_rate": float(slope), "lyapunov": float(exponent),
            "growth_window": [int(steps[0]), int(steps[-1])]}


@dataclass(frozen=True)
class WidthScanRow:
    """One width of :func:`width_scan`.

    Attributes
    ----------
    width : int
        The width :math:`n` of the network.
    initial : dict
        ``{state name: float}``: the initial state drawn at this width (the same seed at every width).
    outcome : Outcome
        The derived map's run from there (:class:`numerics.classify.Outcome`).
    regimes : list of Regime
        Its regimes (:class:`numerics.classify.Regime`).
    final : dict
        ``{state name: float}`` and ``sharpness``: the run's final state.
    errors : dict
        The cross-check's ``max_abs_error_<state>`` and ``max_rel_error_sharpness`` (:class:`CrossCheck`): the map
        against parameter-space GD from the same start.
    check_outcome : str
        The outcome of parameter-space GD (``completed`` or ``diverged``).
    """

    width: int
    initial: dict
    outcome: Outcome
    regimes: list
    final: dict
    errors: dict
    check_outcome: str

    def to_dict(self) -> dict:
        """A row of ``sharpness width-scan --json``: ``width``, ``initial``, ``outcome``, ``regimes``,
        ``final_<state>``, ``final_sharpness``, the ``max_*`` errors and ``check_outcome``."""
        return {"width": self.width, "initial": self.initial, "outcome": self.outcome.to_dict(),
                "regimes": [r.to_dict() for r in self.regimes],
                **{f"final_{name}": value for name, value in self.final.items()},
                **self.errors, "check_outcome": self.check_outcome}


@dataclass(frozen=True)
class WidthScan:
    """The cross-check and the derived map's dynamics at several widths (:func:`width_scan`).

    Attributes
    ----------
    model, parameterization : str
        The width-n model and its parameterization.
    steps : int
        Steps of each run and each cross-check.
    seed : int
        The seed of the initial parameters, the same at every width.
    rows : list of WidthScanRow
        One per width, in the order asked.
    """

    model: str
    parameterization: str
    steps: int
    seed: int
    rows: list

    def to_dict(self) -> dict:
        """``sharpness width-scan --json``."""
        return {"model": self.model, "parameterization": self.parameterization, "steps": self.steps,
                "seed": self.seed, "rows": [row.to_dict() for row in self.rows]}

    def plot(self, path: str) -> None:
        """The final NTK and the cross-check errors against the width, written to ``path``
        (:func:`numerics.plots.width_scan_figure`)."""
        from .plots import width_scan_figure

        width_scan_figure(self.to_dict(), path)

    def __repr__(self) -> str:
        rows = ", ".join(f"n={r.width}: {r.outcome.name}" for r in self.rows)
        return f"WidthScan({self.model} ({self.parameterization}), {self.steps} steps, seed {self.seed}: {rows})"


def width_scan(model, widths, values=None, *, steps: int = 200, seed: int = 0, progress=None,
               max_memory=None) -> WidthScan:
    """Cross-check and dynamics at every width: for each, the initial state drawn at that width, the cross-check
    errors and the derived map's run from it (outcome, regimes, final state). In SP the UV map carries
    :math:`x^2/n`, so catapult and sharpening time scales grow with the width; in muP the map has no :math:`n`."""
    from .iterated_map import IteratedMap

    widths, values = list(widths), value_mapping(values)
    if not widths:
        raise DomainError("widths", "[]", "at least one width")
    derived, width_name, _ = _bind(model, dict(values), widths[0])
    if width_name is None:
        raise UserInputError(f"width-scan needs a width-n model; {derived.name!r} is a coordinate model")
    rows = []
    for width in widths:
        check = crosscheck(derived, {**values, width_name: width}, width=width, steps=steps, seed=seed,
                           use_torch=False, max_memory=max_memory)
        trajectory = IteratedMap(derived, {**values, width_name: width}).run(steps, init=check.initial)
        final = {**{name: trajectory.final[name] for name in check.initial}, "sharpness": trajectory.final["sharpness"]}
        rows.append(WidthScanRow(width, check.initial, trajectory.outcome, trajectory.regimes, final,
                                 {key: value for key, value in check.to_dict().items() if key.startswith("max_")},
                                 check.outcome["name"]))
        if progress:
            progress()
    return WidthScan(derived.name, derived.parameterization, steps, seed, rows)
