"""``sharpness nn``'s argv as a :class:`~numerics.requests.NetworkRequest`: the step sizes (``--set eta=E`` for one
run, ``--vary eta=A:B:N`` or ``eta=E1,E2,...`` for a sweep) and the momentum (``--set beta=B``); the request checks
the data, model and optimizer options together, before any work."""
from __future__ import annotations

import sys

from analysis.errors import DomainError, UnknownNameError, UserInputError

from ..axis import Axis
from ..requests import NetworkRequest
from . import render
from .commands import assignments, axis, check_plot, progress_bar

STEP_SIZE = "give the step size: --set eta=E (one run) or --vary eta=A:B:N or eta=E1,E2,... (a sweep)"


def network_request(args) -> NetworkRequest:
    values = assignments(args.set)
    unknown = [name for name in values if name not in ("eta", "beta")]
    if unknown:
        raise UnknownNameError("parameter", unknown[0], ["eta", "beta"],
                               " of nn (the step size, and the momentum of heavy-ball and nesterov)")
    if (args.vary is None) == ("eta" not in values):
        raise UserInputError(STEP_SIZE + (", not both" if args.vary is not None else ""))
    if args.vary is not None:
        etas = axis(args.vary)
    else:
        try:
            etas = Axis("eta", [float(values["eta"])])
        except (ValueError, UserInputError):
            raise DomainError("eta", values["eta"], "a positive number") from None
    return NetworkRequest(etas, dataset=args.dataset, data=args.data, arch=args.arch, model=args.model,
                          optimizer=args.optimizer, beta=values.get("beta"), steps=args.steps, width=args.width,
                          samples=args.samples, seed=args.seed, dtype=args.dtype, top_k=args.top_k,
                          measure_every=args.measure_every, max_hvps=args.max_hvps, tol=args.tol,
                          time_budget=args.time_budget, threads=args.threads, out=args.out,
                          max_memory=args.max_memory, force=args.force)


def cmd_nn(args) -> int:
    from .. import nn

    request = network_request(args)
    check_plot(args)
    if args.orbit_plot is not None:
        from .. import plots

        plots.check_path(args.orbit_plot)
    request.check_files()
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

    try:
        runs = request.call(progress=lambda: bars[-1].update(1), on_start=on_start)
    finally:
        while bars:
            bars.pop().__exit__(None, None, None)
    if args.plot:
        from .. import plots

        plots.nn_figure(runs, args.plot)
    if args.orbit_plot:
        nn.orbit_figure(runs, args.orbit_plot)
    if args.json:
        render.print_json(request.to_json(runs))
        return 0
    render.nn_table(runs, nn.sweep_table(runs))
    return 0
