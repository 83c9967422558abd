"""One function per subcommand: options in, library calls, rendering out. No formula and no validation here
beyond the command line's own syntax: the library validates values and raises typed errors."""
from __future__ import annotations

import sys

from analysis import get_model, model_names
from analysis.errors import DomainError, UserInputError

from ..axis import Axis, AxisError, split_name
from ..requests import (BasinRequest, BifurcationRequest, CascadeRequest, ContinuationRequest, CrosscheckRequest,
                        FixedPointsRequest, LyapunovRequest, Problem, RunRequest, SweepRequest, WidthScanRequest)
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


def axis(text: str, option: str = "--vary", counted=True) -> Axis:
    """The :class:`~numerics.axis.Axis` written ``text`` after ``option`` (``counted``: as
    :meth:`Axis.parse`); a malformed one is refused naming the option."""
    try:
        return Axis.parse(text, counted=counted)
    except AxisError as error:
        raise UserInputError(f"{option} {error.text!r}: {error.why}") from None


def refuse_replaced(args) -> None:
    """Options of former versions, refused with the form that replaced them (one syntax for a range:
    ``--vary NAME=A:B:N``)."""
    old_range, old_points = getattr(args, "replaced_range", None), getattr(args, "replaced_points", None)
    if old_range is not None or old_points is not None:
        name, _, spec = str(args.vary).partition("=")
        name = name.strip() if name.strip().isidentifier() else "NAME"
        given = spec.split(":")[:2] if spec.count(":") == 1 else ("A", "B")
        low, high = old_range or given
        option = "--range" if old_range is not None else "--points"
        raise UserInputError(f"{option} was replaced: write --vary {name}={low}:{high}:{old_points or 1000}")
    eta = getattr(args, "replaced_eta", None)
    if eta is not None:
        if ":" in eta or "," in eta:
            raise UserInputError(f"--eta was replaced: write --vary eta={eta}")
        raise UserInputError(f"--eta was replaced: write --set eta={eta} (one run) or --vary eta=A:B:N (a sweep)")


def problem(args) -> Problem:
    """The :class:`~numerics.requests.Problem` of the common options (model, -p, --loss, --depth, --optimizer,
    --set, --init)."""
    return Problem(args.model, values=assignments(getattr(args, "set", None)),
                   init=assignments(getattr(args, "init", None), "--init"),
                   parameterization=getattr(args, "parameterization", None), loss=getattr(args, "loss", None),
                   depth=getattr(args, "depth", None), optimizer=getattr(args, "optimizer", None),
                   batch_size=getattr(args, "batch_size", None))


def budget(args) -> dict:
    return {"max_memory": getattr(args, "max_memory", None), "force": getattr(args, "force", False)}


# ------------------------------------------------------------------------------------------------------------------
# argv -> request: one function per measure (the parser sets it as ``args.request``; the request's ``to_argv()``
# parses back into an equal request)


def fixed_points_request(args) -> FixedPointsRequest:
    return FixedPointsRequest(problem(args))


def run_request(args) -> RunRequest:
    return RunRequest(problem(args), args.steps, args.every, **budget(args), seed=args.seed)


def lyapunov_request(args) -> LyapunovRequest:
    return LyapunovRequest(problem(args), args.steps, args.transient, args.batches, **budget(args), seed=args.seed)


def bifurcation_request(args) -> BifurcationRequest:
    return BifurcationRequest(problem(args), axis(args.vary), args.steps, args.keep, **budget(args))


def basin_request(args) -> BasinRequest:
    return BasinRequest(problem(args), tuple(axis(g, "--grid") for g in args.grid or []), args.steps,
                        **budget(args))


def cascade_request(args) -> CascadeRequest:
    name, spec = split_name(args.vary)
    if spec is not None:
        raise UserInputError(f"--vary {args.vary}: a cascade's parameter takes no range (the cascade locates its "
                             f"flips itself); write --vary {name}")
    return CascadeRequest(problem(args), name, args.doublings, args.digits, **budget(args))


def continuation_request(args) -> ContinuationRequest:
    return ContinuationRequest(problem(args), tuple(axis(text, counted=False) for text in args.vary), args.start,
                               args.period, args.start_period, args.doublings, args.curve, args.max_points)


def crosscheck_request(args) -> CrosscheckRequest:
    return CrosscheckRequest(problem(args), args.width, args.steps, args.seed, not args.no_torch, args.max_memory)


def width_scan_request(args) -> WidthScanRequest:
    try:
        widths = tuple(int(w) for w in args.widths.split(","))
    except ValueError:
        raise UserInputError(f"--widths must be comma-separated integers, got {args.widths!r}") from None
    if not widths or min(widths) <= 0:
        raise DomainError("--widths", args.widths, "positive integers")
    return WidthScanRequest(problem(args), widths, args.steps, args.seed, args.max_memory)


def sweep_request(args) -> SweepRequest:
    return SweepRequest(problem(args), tuple(axis(text) for text in args.vary or []), args.out, args.measure,
                        args.steps, args.tile, args.scheduler, **budget(args))


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
    derived = problem(args).derived()
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
    request = fixed_points_request(args)
    table = request.call()
    if args.json:
        render.print_json(request.to_json(table))
    else:
        print(table)
    return 0



def cmd_run(args) -> int:
    request = run_request(args)
    check_plot(args)
    if args.plot and request.problem.optimizer == "sgd":
        raise UserInputError("--plot draws deterministic runs; for --optimizer sgd use --json and plot the trajectory")
    with progress_bar(request.steps, "steps", False) as bar:
        result = request.call(progress=bar.to)
    if request.problem.optimizer == "sgd":
        if args.json:
            render.print_json(request.to_json(result))
        else:
            render.stochastic_trajectory(result)
        return 0
    if args.plot:
        from .. import plots

        plots.trajectory_figure(result.to_dict(), args.plot, result.threshold_name)
    if args.json:
        render.print_json(request.to_json(result))
        return 0
    render.trajectory(result)
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0



def cmd_bifurcation(args) -> int:
    check_plot(args)
    request = bifurcation_request(args)
    grid = request.vary
    with progress_bar(request.steps, "steps", False) as bar:
        diagram = request.call(progress=bar.to)
    if args.plot:
        from .. import plots

        plots.orbit_figure(diagram, args.plot, f"{diagram.model}: orbit diagram in {grid.name}")
    if args.json:  # request.to_json(diagram), with the arrays written in bulk
        render.print_json(diagram.to_dict(arrays=True))
        return 0
    print(f"{len(grid)} values of {grid.name} in [{grid.values[0]}, {grid.values[-1]}], {request.steps} steps, "
          f"kept {request.keep}; diverged: {int(diagram.diverged.sum())}")
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0



def cmd_basin(args) -> int:
    check_plot(args)
    request = basin_request(args)
    with progress_bar(request.steps, "steps", False) as bar:
        result = request.call(progress=bar.to)
    if args.plot:
        from .. import plots

        plots.basin_figure(result, args.plot, f"{result.model}: basin after {request.steps} steps")
    if args.json:
        render.print_json(request.to_json(result))
        return 0
    print(", ".join(f"{name}: {count}" for name, count in result.counts.items()))
    if result.unrealizable:
        print(f"not realizable by any parameters: {result.unrealizable} initial states (hatched in the figure; "
              "their outcome is the map's, not a network's)")
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0



def cmd_cascade(args) -> int:
    request = cascade_request(args)
    with progress_bar(request.doublings, "flips", args.quiet) as bar:
        # The first flip is exact (from the derived stability) and counted with the second.
        result = request.call(progress=lambda j, n: bar.update(2 if j == 2 else 1))
    if args.json:
        render.print_json(request.to_json(result))
    else:
        print(result)
    return 0



def cmd_continuation(args) -> int:
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
    request = continuation_request(args)
    with progress_bar(None, "continuation points", args.quiet) as bar:
        result = request.call(progress=lambda: bar.update(1))
    if args.plot:
        from .. import plots

        plots.continuation_figure(result.to_dict(), args.plot, over)
    if args.json:
        render.print_json(request.to_json(result))
    else:
        print(result)
        if args.plot:
            print(f"figure written to {args.plot}")
    return 0


def cmd_crosscheck(args) -> int:
    request = crosscheck_request(args)
    with progress_bar(request.steps + 1, "parameter-space GD", args.quiet) as bar:
        result = request.call(progress=lambda: bar.update(1))
    if args.json:
        render.print_json(request.to_json(result))
    else:
        render.crosscheck(result.to_dict())
    return 0



def cmd_width_scan(args) -> int:
    check_plot(args)
    request = width_scan_request(args)
    with progress_bar(len(request.widths), "widths", args.quiet) as bar:
        result = request.call(progress=lambda: bar.update(1))
    if args.plot:
        result.plot(args.plot)
    if args.json:
        render.print_json(request.to_json(result))
    else:
        render.width_scan(result)
    return 0



def cmd_sweep(args) -> int:
    check_plot(args)
    request = sweep_request(args)
    planned = request.plan()
    with progress_bar(len(planned["jobs"]), "tiles", args.quiet) as bar:
        summary = request.call(progress=lambda: bar.update(1), planned=planned)
    if args.plot:
        summary.plot(args.plot, f"{request.problem.derived().name}: {request.measure}")
    if args.json:
        render.print_json(request.to_json(summary))
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
    request = lyapunov_request(args)
    with progress_bar(request.steps, "steps", False) as bar:
        result = request.call(progress=bar.to)
    if args.json:
        render.print_json(request.to_json(result))
        return 0
    if result.diverged_at is not None:
        print(f"diverged at step {result.diverged_at}: no exponents")
        return 0
    for exponent, error in zip(result.exponents, result.stderr):
        print(f"{exponent:+.10f} ± {error:.2e}")
    return 0
