"""``sharpness nn``'s argv as a :class:`~numerics.requests.NetworkRequest`: the step sizes (``--set eta=E`` for one
run, ``--vary eta=A:B:N`` or ``eta=E1,E2,...`` for a sweep), more axes (``--vary width=...``, ``seed``, ...: a grid,
on Dask), the momentum (``--set beta=B``) or Adam's parameters (``--set beta1=``, ``beta2=``, ``eps=``), and
``--batch-size``; the request checks the data, model and optimizer options together, before any work."""
from __future__ import annotations

import sys

from analysis.errors import DomainError, UnknownNameError, UserInputError

from ..axis import Axis
from ..requests import NetworkRequest
from . import render
from .commands import assignments, axis, check_plot, progress_bar

PARAMETERS = ["eta", "beta", "beta1", "beta2", "eps"]
STEP_SIZE = "give the step size: --set eta=E (one run) or --vary eta=A:B:N or eta=E1,E2,... (a sweep)"


def _vary_axis(text: str):
    """A ``--vary`` of nn: ``NAME=A,B,...`` (names) for a setting that takes names (``parameterization``), else an
    axis of numbers."""
    from ..axis import AxisError, Categories, split_name
    from ..nn.grid import CATEGORICAL

    try:
        name, _ = split_name(text)
        if name in CATEGORICAL:
            return Categories.parse(text)
    except AxisError as error:
        raise UserInputError(f"--vary {error.text!r}: {error.why}") from None
    return axis(text)


def network_request(args) -> NetworkRequest:
    values = assignments(args.set)
    unknown = [name for name in values if name not in PARAMETERS]
    if unknown:
        raise UnknownNameError("parameter", unknown[0], PARAMETERS,
                               " of nn (the step size; the momentum of heavy-ball and nesterov; Adam's beta1, beta2 "
                               "and eps)")
    axes = [_vary_axis(text) for text in args.vary or []]
    for varied in axes:
        NetworkRequest.check_varied_name(varied.name)
    varied_etas = [a for a in axes if a.name == "eta"]
    if (not varied_etas) == ("eta" not in values):
        raise UserInputError(STEP_SIZE + (", not both" if varied_etas else ""))
    if len(varied_etas) > 1:
        raise UserInputError("--vary eta is given twice")
    if varied_etas:
        etas = varied_etas[0]
    else:
        try:
            etas = Axis("eta", [float(values["eta"])])
        except (ValueError, UserInputError):
            raise DomainError("eta", values["eta"], "a positive number") from None
    return NetworkRequest(etas, dataset=args.dataset, data=args.data, arch=args.arch, model=args.model,
                          optimizer=args.optimizer, beta=values.get("beta"), beta1=values.get("beta1"),
                          beta2=values.get("beta2"), eps=values.get("eps"), batch_size=args.batch_size,
                          steps=args.steps, width=args.width, parameterization=args.parameterization,
                          init_scale=args.init_scale,
                          samples=args.samples, seed=args.seed, dtype=args.dtype, top_k=args.top_k,
                          measure_every=args.measure_every, max_hvps=args.max_hvps, tol=args.tol,
                          time_budget=args.time_budget, threads=args.threads, out=args.out,
                          max_memory=args.max_memory, force=args.force,
                          central_flow=args.central_flow, substeps=args.substeps,
                          vary=tuple(a for a in axes if a.name != "eta"), scheduler=args.scheduler)


def cmd_nn(args) -> int:
    from .. import nn

    request = network_request(args)
    check_plot(args)
    if args.orbit_plot is not None:
        from .. import plots

        plots.check_path(args.orbit_plot)
    if args.orbit_plot is not None and request.vary:
        raise UserInputError("--orbit-plot draws the runs against eta: vary eta alone")
    if args.phase_plot is not None:
        from .. import plots

        plots.check_path(args.phase_plot)
        if not request.grid:
            raise UserInputError("--phase-plot draws the runs of a grid: give --vary (e.g. --vary eta=... --vary "
                                 "width=...)")
    request.check_files()
    if request.grid:
        return _grid(args, request)
    etas = request.eta.values
    label = request.model or request.arch or "mlp"
    bars = []

    def on_start(index, eta, done):
        if bars:
            bars.pop().__exit__(None, None, None)
        if done:
            if not args.quiet:
                print(f"eta={eta:g}: finished before, read from {args.out}", file=sys.stderr)
            return
        bar = progress_bar(args.steps + 1, f"{label} eta={eta:g} ({index + 1}/{len(etas)})", args.quiet)
        bars.append(bar.__enter__())

    flow_bar = []

    def flow_progress():
        if not flow_bar:  # the training's bar is done: the flow's replaces it
            while bars:
                bars.pop().__exit__(None, None, None)
            bars.append(progress_bar(args.steps, f"{label} central flow", args.quiet).__enter__())
            flow_bar.append(bars[-1])
        bars[-1].update(1)

    try:
        runs = request.call(progress=lambda: bars[-1].update(1), on_start=on_start, flow_progress=flow_progress)
        if request.central_flow:
            runs, flow = runs
    finally:
        while bars:
            bars.pop().__exit__(None, None, None)
    if args.plot:
        from .. import plots

        plots.nn_figure(runs, args.plot)
    if args.orbit_plot:
        nn.orbit_figure(runs, args.orbit_plot)
    if request.central_flow and args.plot:
        flow.plot(_flow_path(args.plot), runs[0])
    if args.json:
        render.print_json(request.to_json((runs, flow) if request.central_flow else runs))
        return 0
    render.nn_table(runs, nn.sweep_table(runs))
    if request.central_flow:
        print(flow_summary(flow))
        if args.plot:
            print(f"central-flow figure written to {_flow_path(args.plot)}")
    return 0


def _grid(args, request) -> int:
    """The runs on Dask (:func:`numerics.nn.network_grid`): a bar over the runs to compute; the table of each
    setting of the other varied names (an eta sweep each), the store's summary last."""
    from .. import nn

    with progress_bar(None, "runs", args.quiet) as bar:
        grid = request.call(runs_progress=bar.to)
    if args.plot:
        grid.plot(args.plot)
    if args.orbit_plot:
        nn.orbit_figure(list(grid.runs), args.orbit_plot)
    if args.phase_plot:
        grid.phase_plot(args.phase_plot)
    if args.json:
        render.print_json(request.to_json(grid))
        return 0
    others = [axis.name for axis in grid.axes if axis.name != "eta"]
    groups = {}
    for cell, run in zip(grid.cells, grid.runs):
        groups.setdefault(tuple(cell[name] for name in others), []).append(run)
    for values, runs in groups.items():
        if others:
            print(", ".join(f"{name}={value!r}" for name, value in zip(others, values)) + ":")
        render.nn_table(runs, nn.sweep_table(runs))
    diagram = grid.phase_diagram()
    if diagram.compared:
        print(f"early regime against the UV model's at the same eta*lam0 and width: {diagram.agreeing} of "
              f"{diagram.compared} runs agree ({diagram.agreement_rate:.2f})")
    if args.phase_plot:
        print(f"phase diagram written to {args.phase_plot}")
    kept = f"{grid.out}: " if grid.out else ""
    print(f"{kept}{len(grid.runs)} runs, {grid.computed} computed, {grid.skipped} already done")
    return 0


def _flow_path(path: str) -> str:
    """``--plot run.png`` also writes the flow's figure, beside it: ``run.flow.png``."""
    stem, dot, suffix = path.rpartition(".")
    return f"{stem}.flow.{suffix}" if dot and stem else f"{path}.flow"


def flow_summary(flow) -> str:
    """The text output of ``--central-flow``: events, the final flow and the comparison with GD."""
    lines = [f"central flow ({flow.parameters} parameters, k = {flow.k}, {flow.substeps} Euler substeps per step, "
             f"2/eta = {flow.threshold:.6g})"]
    for event in flow.events:
        lines.append(f"  t = {event.time:<8g} {event.type:<10} sharpness {event.state['sharpness']:.6g}, "
                     f"critical {event.state['critical']}")
    final = flow.final
    lines.append(f"final ({final['phase']}, t = {final['time']:g}): sharpness {final['sharpness']:.6g}, "
                 f"sigma2 {final['sigma2']:.4g}, loss {final['loss']:.4g}, "
                 f"predicted loss {final['predicted_loss']:.4g}")
    if not flow.complete:
        lines.append(f"not complete: {flow.reason}")
    comparison = flow.gd_comparison or {}
    if "max_rel_error_loss" not in comparison:
        lines.append(f"  {comparison.get('note', 'not compared with GD')}")
        return "\n".join(lines)
    low, high = comparison["window"]
    lines.append(f"GD against the flow at t + 1/2, two-step averages over steps {low:g}-{high:g}:")
    for name, label in (("sharpness", "sharpness"), ("loss", "loss (vs predicted)"), ("flow_loss", "loss (vs flow L)")):
        if comparison[f"max_rel_error_{name}"] is None:
            lines.append(f"  {label:<20} not compared (measure every step: --measure-every 1)")
        else:
            lines.append(f"  {label:<20} max rel. error {comparison[f'max_rel_error_{name}']:.3g}, median "
                         f"{comparison[f'median_rel_error_{name}']:.3g}")
    return "\n".join(lines)
