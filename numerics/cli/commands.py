"""One function per subcommand: options in, library calls, rendering out. No formula and no validation here
beyond the command line's own syntax: the library validates values and raises typed errors."""
from __future__ import annotations

import sys

import numpy as np

from analysis import DerivedModel, get_model, model_names
from analysis.errors import DomainError, UserInputError

from . import render


def assignments(pairs, option="--set") -> dict:
    """``["NAME=VALUE", ...]`` as a dict of text values; a malformed pair is a :class:`UserInputError`."""
    result = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UserInputError(f"malformed {option} {pair!r}; expected NAME=VALUE, e.g. {option} eta=0.5")
        if name.strip() in result:
            raise UserInputError(f"{option} {name.strip()} given twice")
        result[name.strip()] = value.strip()
    return result


def model_options(args) -> dict:
    optimizer = getattr(args, "optimizer", None)  # gd is the default: left out, so that GD runs are keyed as before
    return {k: v for k, v in (("loss", getattr(args, "loss", None)), ("depth", getattr(args, "depth", None)),
                              ("optimizer", None if optimizer == "gd" else optimizer))
            if v is not None}


def derived_model(args) -> DerivedModel:
    return DerivedModel(args.model, getattr(args, "parameterization", None), **model_options(args))


def bound_map(args, vary=None):
    """The :class:`~numerics.IteratedMap` of the common options (``vary``: a parameter the measure varies)."""
    from ..iterated_map import IteratedMap

    derived = derived_model(args)
    if vary is not None:
        derived.model.parameter(vary)
    return IteratedMap(derived, max_memory=getattr(args, "max_memory", None), force=getattr(args, "force", False),
                       _placeholders=() if vary is None else (vary,), **assignments(args.set))


def check_plot(args):
    if getattr(args, "plot", None) is not None:
        from .. import plots

        plots.check_path(args.plot)


class progress_bar:  # noqa: N801 - used as a context manager like tqdm
    """A tqdm bar on stderr that opens at the first progress report, so that input refused before any work is
    reported on exactly one line of stderr."""

    def __init__(self, total, desc, quiet):
        self.options = {"total": total, "desc": desc, "file": sys.stderr, "disable": quiet}
        self.bar = None

    def update(self, count=1):
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(**self.options)
        self.bar.update(count)

    def to(self, done, total):
        """``progress(done, total)`` callback of the library's chunked measures (map steps): a bar with an ETA
        that appears only for work long enough to be chunked."""
        if self.bar is None:
            self.options["total"] = total
        self.update(done - (self.bar.n if self.bar is not None else 0))

    def set_postfix_str(self, text):
        self.update(0)
        self.bar.set_postfix_str(text)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False


# ------------------------------------------------------------------------------------------------------------------


def cmd_models(args) -> int:
    entries = []
    for name in model_names():
        model = get_model(name)
        entries.append({
            "name": model.name, "description": model.summary,
            "parameters": [{"name": p.name, "description": p.description, "domain": p.domain,
                            "default": None if p.default is None else float(p.default)} for p in model.parameters],
            "state": [{"name": s.name, "description": s.description} for s in model.state],
            "parameterizations": list(model.parameterizations), "reference": model.reference,
        })
    if args.json:
        render.print_json(entries)
    else:
        render.models(entries)
    return 0


def cmd_derive(args) -> int:
    derived = derived_model(args)
    results = derived.results(args.only)
    if args.latex is not None:
        derived.latex(args.latex, args.only)
    if args.json:
        render.print_json(derived.to_dict(args.only))
        return 0
    render.derivation(derived, results)
    if args.latex:
        print(f"\nLaTeX written to {args.latex}")
    return 0


def cmd_fixed_points(args) -> int:
    table = derived_model(args).fixed_points_at(**assignments(args.set))
    if args.json:
        render.print_json(table.to_dict())
    else:
        print(table)
    return 0


def cmd_run(args) -> int:
    check_plot(args)
    with progress_bar(args.steps, "steps", False) as bar:
        result = bound_map(args).run(args.steps, assignments(args.init, "--init"), args.every, progress=bar.to)
    if args.plot:
        from .. import plots

        plots.trajectory_figure(result.to_dict(), args.plot, result.threshold_name)
    if args.json:
        render.print_json(result.to_dict())
        return 0
    render.trajectory(result)
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def cmd_bifurcation(args) -> int:
    check_plot(args)
    low, high = args.range
    if low > high or (low == high and args.points != 1):
        raise UserInputError(f"--range needs A < B (or A = B with --points 1, a single value), got {low} {high}"
                             + (f" with --points {args.points}" if low == high else ""))
    bound = bound_map(args, vary=args.vary)
    with progress_bar(args.steps, "steps", False) as bar:
        diagram = bound.orbit_diagram(args.vary, (low, high, args.points), args.steps, args.keep,
                                      assignments(args.init, "--init"), progress=bar.to)
    if args.plot:
        from .. import plots

        plots.orbit_figure(diagram, args.plot, f"{bound.model.name}: orbit diagram in {args.vary}")
    if args.json:
        render.print_json(diagram.to_dict())
        return 0
    print(f"{args.points} values of {args.vary} in [{low}, {high}], {args.steps} steps, kept {args.keep}; "
          f"diverged: {int(diagram.diverged.sum())}")
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def grid_axis(text: str):
    """``NAME=A:B:N`` -> (name, A, B, N)."""
    name, sep, spec = text.partition("=")
    parts = spec.split(":")
    try:
        if not sep or len(parts) != 3:
            raise ValueError
        low, high, points = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise UserInputError(f"malformed --grid {text!r}; expected NAME=A:B:N, e.g. --grid x=-2:2:200") from None
    return name.strip(), low, high, points


def cmd_basin(args) -> int:
    check_plot(args)
    axes = [grid_axis(g) for g in args.grid or []]
    if len(axes) != 2 or axes[0][0] == axes[1][0]:
        raise UserInputError("give exactly two --grid options over two different state variables")
    bound = bound_map(args)
    with progress_bar(args.steps, "steps", False) as bar:
        result = bound.basin(axes, args.steps, assignments(args.init, "--init"), progress=bar.to)
    if args.plot:
        from .. import plots

        plots.basin_figure(result, args.plot, f"{bound.model.name}: basin after {args.steps} steps")
    if args.json:
        render.print_json(result.to_dict())
        return 0
    print(", ".join(f"{name}: {count}" for name, count in result.counts.items()))
    if result.unrealizable:
        print(f"not realizable by any parameters: {result.unrealizable} initial states (hatched in the figure; "
              "their outcome is the map's, not a network's)")
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def cmd_cascade(args) -> int:
    from ..flips import cascade

    bound = bound_map(args, vary=args.vary)
    with progress_bar(args.doublings, "flips", args.quiet) as bar:
        # The first flip is exact (from the derived stability) and counted with the second.
        result = cascade(bound, args.vary, args.doublings, args.digits,
                         progress=lambda j, n: bar.update(2 if j == 2 else 1),
                         init=assignments(args.init, "--init") or None)
    if args.json:
        render.print_json(result.to_dict())
    else:
        print(result)
    return 0


def cmd_continuation(args) -> int:
    from ..branches import continuation, continue_curve

    check_plot(args)
    if args.over is not None and not str(args.over).endswith(".zarr"):
        raise UserInputError(f"--over must be a sweep store ending in .zarr, got {args.over!r}")
    over = None
    if args.over is not None:  # read before the continuation runs, so that a bad store costs no work
        if args.plot is None:
            raise UserInputError("--over draws under the --plot figure; give --plot PATH too")
        from pathlib import Path

        from .. import sweeps

        if not Path(args.over).is_dir():
            raise UserInputError(f"--over {args.over}: no sweep store there (make one with `sharpness sweep ... "
                                 f"--out {args.over}`)")
        over = sweeps.load(args.over)
    common = dict(parameterization=args.parameterization, start=args.start,
                  init=assignments(args.init, "--init") or None, max_points=args.max_points,
                  options=model_options(args), **assignments(args.set))
    with progress_bar(None, "continuation points", args.quiet) as bar:
        if args.curve:
            if len(args.vary) != 2:
                raise UserInputError("--curve needs exactly two --vary NAME=A:B options (the parameter plane)")
            result = continue_curve(args.model, args.curve, args.vary, period=args.period,
                                    start_period=args.start_period, doublings=args.doublings or None,
                                    progress=lambda: bar.update(1), **common)
        else:
            if len(args.vary) != 1:
                raise UserInputError("give one --vary NAME=A:B (two only with --curve PD|LP|NS)")
            result = continuation(args.model, args.vary[0], period=args.period, doublings=args.doublings,
                                  progress=lambda: bar.update(1), **common)
    if args.plot:
        from .. import plots

        plots.continuation_figure(result.to_dict(), args.plot, over)
    if args.json:
        render.print_json(result.to_dict())
    else:
        print(result)
        if args.plot:
            print(f"figure written to {args.plot}")
    return 0


def cmd_crosscheck(args) -> int:
    from ..cross_check import crosscheck

    derived = derived_model(args)
    with progress_bar(args.steps + 1, "parameter-space GD", args.quiet) as bar:
        result = crosscheck(derived, args.width, args.steps, args.seed, use_torch=not args.no_torch,
                            init=assignments(args.init, "--init") or None, progress=lambda: bar.update(1),
                            max_memory=args.max_memory, **assignments(args.set))
    if args.json:
        render.print_json(result.to_dict())
    else:
        render.crosscheck(result.to_dict())
    return 0


def cmd_width_scan(args) -> int:
    from ..cross_check import width_scan

    check_plot(args)
    try:
        widths = [int(w) for w in args.widths.split(",")]
    except ValueError:
        raise UserInputError(f"--widths must be comma-separated integers, got {args.widths!r}") from None
    if not widths or min(widths) <= 0:
        raise DomainError("--widths", args.widths, "positive integers")
    with progress_bar(len(widths), "widths", args.quiet) as bar:
        result = width_scan(derived_model(args), widths, args.steps, args.seed, progress=lambda: bar.update(1),
                            max_memory=args.max_memory, **assignments(args.set))
    if args.plot:
        result.plot(args.plot)
    if args.json:
        render.print_json(result.to_dict())
    else:
        render.width_scan(result)
    return 0


def cmd_nn(args) -> int:
    from .. import nn
    from .networks import cli_settings, parse_etas

    etas = parse_etas(args.eta)
    if args.width <= 0:
        raise DomainError("--width", args.width, "a positive integer")
    check_plot(args)
    if args.orbit_plot is not None:
        from .. import plots

        plots.check_path(args.orbit_plot)
    settings = cli_settings(dataset=args.dataset, data=args.data, arch=args.arch, model=args.model,
                            optimizer=args.optimizer, set_values=assignments(args.set), dtype=args.dtype)
    settings.update(steps=args.steps, width=args.width, seed=args.seed, measure_every=args.measure_every,
                    max_hvps=args.max_hvps, samples=args.samples, top_k=args.top_k, tol=args.tol,
                    time_budget=args.time_budget, threads=args.threads)
    bars = []

    def on_start(index, eta, done):
        if bars:
            bars.pop().__exit__(None, None, None)
        if done:
            if not args.quiet:
                print(f"eta={eta:g}: finished before, read from {args.out}", file=sys.stderr)
            return
        label = settings["model"] or settings["arch"]
        bar = progress_bar(args.steps + 1, f"{label} eta={eta:g} ({index + 1}/{len(etas)})", args.quiet)
        bars.append(bar.__enter__())

    try:
        runs = nn.eta_sweep(etas, args.out, progress=lambda: bars[-1].update(1), on_start=on_start, **settings)
    finally:
        while bars:
            bars.pop().__exit__(None, None, None)
    if args.plot:
        from .. import plots

        plots.nn_figure(runs, args.plot)
    if args.orbit_plot:
        nn.orbit_figure(runs, args.orbit_plot)
    table = nn.sweep_table(runs)
    if args.json:
        render.print_json(runs[0].to_dict() if len(runs) == 1 else
                          {"runs": [run.to_dict() for run in runs], "table": table})
        return 0
    render.nn_table(runs, table)
    return 0


def cmd_sweep(args) -> int:
    from .. import sweeps

    check_plot(args)
    axes = [sweeps.parse_axis(text) for text in args.vary or []]
    if not args.out.endswith(".zarr"):
        raise UserInputError(f"--out must end in .zarr, got {args.out!r}")
    derived = derived_model(args)
    planned = sweeps.plan(args.model, derived.parameterization, model_options(args), assignments(args.set),
                          assignments(args.init, "--init"), axes, args.measure, args.out, args.steps,
                          tile=(args.tile, args.tile), max_memory=args.max_memory, force=args.force)
    with progress_bar(len(planned["jobs"]), "tiles", args.quiet) as bar:
        summary = sweeps.execute(planned, args.scheduler, progress=lambda: bar.update(1))
    if args.plot:
        summary.plot(args.plot, f"{derived.name}: {args.measure}")
    if args.json:
        render.print_json(summary.to_dict())
    else:
        print(f"{summary.out}: {summary.tiles} tiles, {summary.computed} computed, {summary.skipped} already done")
        if args.plot:
            print(f"figure written to {args.plot}")
    return 0


def cmd_report(args) -> int:
    from .. import report

    with progress_bar(report.STEPS, "report", args.quiet) as bar:
        results = report.build(args.out, args.quick, args.scheduler,
                               progress=lambda name: (bar.set_postfix_str(name), bar.update(1)),
                               overwrite=args.overwrite)
    pdf = results["pdf"]
    print(f"wrote {args.out}/report.tex, {args.out}/results.json and {len(results['figures'])} figures (PNG and PDF)")
    print(f"report.pdf: {'built with ' + pdf['engine'] if pdf.get('built') else pdf.get('note', 'LaTeX failed')}")
    return 0


def cmd_lyapunov(args) -> int:
    with progress_bar(args.steps, "steps", False) as bar:
        result = bound_map(args).lyapunov(args.steps, args.transient, args.batches, assignments(args.init, "--init"),
                                          progress=bar.to)
    if args.json:
        render.print_json(result.to_dict())
        return 0
    if result.diverged_at is not None:
        print(f"diverged at step {result.diverged_at}: no exponents")
        return 0
    for exponent, error in zip(result.exponents, result.stderr):
        print(f"{exponent:+.10f} ± {error:.2e}")
    return 0
