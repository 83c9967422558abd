"""The ``sharpness`` command line. It only orchestrates: every formula comes from :mod:`analysis`.

Bad input is reported on one line of stderr with exit status 2, never with a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from .derivations import DerivationError
from .errors import UserInputError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints the whole usage; we want one line and status 2
        raise UserInputError(message)


def _assignments(pairs, option="--set") -> dict:
    """``["NAME=VALUE", ...]`` as a dict; a malformed pair is a :class:`UserInputError`."""
    result = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UserInputError(f"malformed {option} {pair!r}; expected NAME=VALUE, e.g. {option} eta=0.5")
        if name.strip() in result:
            raise UserInputError(f"{option} {name.strip()} given twice")
        result[name.strip()] = value.strip()
    return result


def _finite(obj):
    """JSON cannot hold inf/NaN: non-finite numbers become null (the outcome field says why)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):  # numpy scalars
        return _finite(obj.item())
    return obj


def _print_json(obj) -> None:
    json.dump(_finite(obj), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def _option_value(name, convert, valid, requirement):
    """An argparse type: ``convert(text)``, which must satisfy ``valid``; the error says ``requirement``."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {requirement}, got {text!r}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"{name} must be {requirement}, got {text}")
        return value
    return parse


def _positive_int(name):
    return _option_value(name, int, lambda v: v > 0, "a positive integer")


def _real(name):
    return _option_value(name, float, math.isfinite, "a finite number")


def _setup(args, *, free=None):
    """Model, parameterization, parameter values and initial state from the common options."""
    from numerics.compile import compile_model

    from .registry import get_model

    model = get_model(args.model, **_model_options(args))
    parameterization = model.check_parameterization(getattr(args, "parameterization", None))
    assignments = _assignments(args.set)
    if free is not None:
        model.parameter(free)  # an unknown name is an error before anything runs
        assignments.setdefault(free, "1")  # placeholder: the measure varies it
    values = model.parse_values(assignments)
    initial = model.parse_initial(_assignments(getattr(args, "init", None), "--init"), values)
    return compile_model(model.name, parameterization, **_model_options(args)), values, initial


def _model_options(args) -> dict:
    return {k: v for k, v in (("loss", getattr(args, "loss", None)), ("depth", getattr(args, "depth", None)))
            if v is not None}


# --------------------------------------------------------------------------------------------------------------


def cmd_models(args) -> int:
    from .registry import get_model, model_names

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
        _print_json(entries)
        return 0
    for e in entries:
        params = ", ".join(p["name"] + ("" if p["default"] is None else f"={p['default']:g}") for p in e["parameters"])
        print(f"{e['name']:<10} {e['description']}")
        print(f"{'':<10} parameters: {params}; state: {', '.join(s['name'] for s in e['state'])}; "
              f"parameterizations: {', '.join(e['parameterizations'])}")
    return 0


def cmd_derive(args) -> int:
    from .engine import Derivation
    from .registry import get_model
    from .latex import document, to_latex

    derivation = Derivation(get_model(args.model, **_model_options(args)), args.parameterization)
    results = derivation.results(args.only)
    if args.latex:
        try:
            with open(args.latex, "w") as handle:
                handle.write(document([(derivation.model.name, derivation.parameterization, results)]))
        except OSError as error:
            raise UserInputError(f"cannot write {args.latex}: {error.strerror}") from None
    if args.json:
        _print_json({
            "model": derivation.model.name, "parameterization": derivation.parameterization,
            "results": {r.name: {"title": r.title, "notes": r.notes,
                                 "equations": [{"label": e.label, "lhs": e.lhs, "relation": e.relation,
                                                "rhs": str(e.rhs), "latex": to_latex(e.rhs)} for e in r.equations]}
                        for r in results}})
        return 0
    print(f"# {derivation.model.name} ({derivation.parameterization})")
    for result in results:
        print(f"\n## {result.name}: {result.title}")
        for equation in result.equations:
            lhs = f"{equation.lhs} {equation.relation} " if equation.lhs else ""
            print(f"  [{equation.label}] {lhs}{equation.rhs}")
        if result.notes:
            print(f"  ({result.notes})")
    if args.latex:
        print(f"\nLaTeX written to {args.latex}")
    return 0


def cmd_fixed_points(args) -> int:
    from .engine import Derivation
    from .registry import get_model
    from .evaluate import fixed_points_at

    derivation = Derivation(get_model(args.model, **_model_options(args)), args.parameterization)
    values = derivation.model.parse_values(_assignments(args.set))
    entries = fixed_points_at(derivation, values)
    if args.json:
        _print_json(entries)
        return 0
    for e in entries:
        coords = ", ".join(f"{k} = {v:.10g}" for k, v in e["coordinates"].items())
        eigs = ", ".join(f"{v:.10g}" if isinstance(v, float) else f"{v['re']:.6g}{v['im']:+.6g}j" for v in e["eigenvalues"])
        real = "" if e["realizable"] is None else ("" if e["realizable"] else "  [not realizable]")
        print(f"{e['label']:>4}: {coords}   eigenvalues [{eigs}]   {e['stability']}{real}")
        print(f"      {e['expression']}")
    return 0


def cmd_run(args) -> int:
    from numerics import dynamics, plots

    if args.plot:
        plots.check_path(args.plot)
    compiled, values, initial = _setup(args)
    try:
        result = dynamics.run(compiled, values, initial, args.steps, args.every)
    except dynamics.TrajectoryTooLarge as error:
        raise UserInputError(str(error)) from None
    if args.plot:
        plots.trajectory_figure(result, args.plot)
    if args.json:
        _print_json(result)
        return 0
    final = ", ".join(f"{k} = {v:.10g}" for k, v in result["final"].items())
    outcome = result["outcome"]
    detail = {k: v for k, v in outcome.items() if k != "name"}
    print(f"outcome: {outcome['name']} {detail if detail else ''}".rstrip())
    print(f"final: {final}   (2/eta = {result['threshold']:.10g})")
    for regime in result["regimes"]:
        print(f"  steps {regime['start']:>8}-{regime['end']:<8} {regime['name']}")
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def cmd_bifurcation(args) -> int:
    from numerics import dynamics, plots

    if args.plot:
        plots.check_path(args.plot)
    if args.keep > args.steps:
        raise UserInputError(f"--keep ({args.keep}) cannot exceed --steps ({args.steps})")
    if not args.range[0] < args.range[1]:
        raise UserInputError(f"--range needs A < B, got {args.range[0]} {args.range[1]}")
    compiled, values, initial = _setup(args, free=args.vary)
    diagram = dynamics.orbit_diagram(compiled, values, initial, args.vary, args.range[0], args.range[1],
                                     args.points, args.steps, args.keep)
    if args.plot:
        plots.orbit_figure(diagram, args.vary, compiled.state_names[0], args.plot,
                           f"{compiled.model.name}: orbit diagram in {args.vary}")
    payload = {
        "model": compiled.model.name, "vary": args.vary, "values": diagram["values"].tolist(),
        "state": compiled.state_names, "diverged": diagram["diverged"].tolist(),
        "orbits": diagram["orbits"].tolist(),
    }
    if args.json:
        _print_json(payload)
        return 0
    print(f"{args.points} values of {args.vary} in [{args.range[0]}, {args.range[1]}], {args.steps} steps, "
          f"kept {args.keep}; diverged: {int(diagram['diverged'].sum())}")
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def _grid_axis(text: str):
    """``NAME=A:B:N`` -> (name, A, B, N)."""
    name, sep, spec = text.partition("=")
    parts = spec.split(":")
    try:
        if not sep or len(parts) != 3:
            raise ValueError
        low, high, points = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise UserInputError(f"malformed --grid {text!r}; expected NAME=A:B:N, e.g. --grid x=-2:2:200") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high and points >= 2):
        raise UserInputError(f"--grid {text!r} needs finite A < B and N >= 2")
    return name.strip(), low, high, points


def cmd_basin(args) -> int:
    from numerics import dynamics, plots

    if args.plot:
        plots.check_path(args.plot)
    axes = [_grid_axis(g) for g in args.grid or []]
    if len(axes) != 2 or axes[0][0] == axes[1][0]:
        raise UserInputError("give exactly two --grid options over two different state variables")
    compiled, values, initial = _setup(args)
    for name, *_ in axes:
        compiled.model.state_variable(name)
    if axes[0][3] * axes[1][3] > 4_000_000:
        raise UserInputError("the grid has more than 4,000,000 points; use fewer --grid points")
    result = dynamics.basin(compiled, values, initial, axes, args.steps)
    if args.plot:
        plots.basin_figure(result, args.plot, f"{compiled.model.name}: basin after {args.steps} steps")
    counts = {name: int((result["classes"] == i).sum()) for i, name in enumerate(dynamics.BASIN_CLASSES)}
    if args.json:
        _print_json({"model": compiled.model.name, "axes": list(result["axes"]),
                     "grids": [g.tolist() for g in result["grids"]], "threshold": result["threshold"],
                     "classes": list(dynamics.BASIN_CLASSES), "class": result["classes"].tolist(),
                     "period": result["period"].tolist(), "final_sharpness": result["final_sharpness"].tolist(),
                     "counts": counts})
        return 0
    print(", ".join(f"{name}: {count}" for name, count in counts.items()))
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def cmd_cascade(args) -> int:
    import mpmath

    from numerics import cascade

    compiled, values, _ = _setup(args, free=args.vary)
    from tqdm import tqdm

    with tqdm(total=args.doublings, desc="flips", file=sys.stderr, disable=args.quiet) as bar:
        bar.update(1)
        result = cascade.cascade(compiled, values, args.vary, args.doublings, args.digits,
                                 progress=lambda j, n: bar.update(1))
    text = lambda v: mpmath.nstr(v, args.digits)  # noqa: E731
    payload = {
        "model": compiled.model.name, "vary": args.vary, "digits": args.digits,
        "bifurcations": [{"parameter": float(b["parameter"]), "period": b["period"],
                          "parameter_digits": text(b["parameter"]),
                          **({"exact": str(b["exact"])} if "exact" in b else {})} for b in result["bifurcations"]],
        "delta": [float(d) for d in result["delta"]],
        "delta_digits": [text(d) for d in result["delta"]],
        "delta_aitken": [text(d) for d in result["delta_aitken"]],
        "correct_digits": [cascade.correct_digits(d) for d in result["delta"]],
        "correct_digits_aitken": [cascade.correct_digits(d) for d in result["delta_aitken"]],
    }
    if args.json:
        _print_json(payload)
        return 0
    for b in payload["bifurcations"]:
        print(f"period {b['period']:>6} flips at {args.vary} = {b['parameter_digits'][:32]}")
    for i, (d, digits) in enumerate(zip(payload["delta_digits"], payload["correct_digits"])):
        print(f"delta_{i + 1:<3} = {d[:20]}   ({digits} correct digits)")
    if payload["delta_aitken"]:
        print(f"Aitken-accelerated: {payload['delta_aitken'][-1][:20]} "
              f"({payload['correct_digits_aitken'][-1]} correct digits)")
    return 0


def cmd_crosscheck(args) -> int:
    from tqdm import tqdm

    from numerics import crosscheck

    if args.model != "uv":
        raise UserInputError(f"crosscheck has a parameter-space network for 'uv' only, not {args.model!r}")
    if args.width <= 0:
        raise UserInputError(f"--width must be a positive integer, got {args.width}")
    args.set = (args.set or []) + ([] if any(a.startswith("n=") for a in args.set or []) else [f"n={args.width}"])
    compiled, values, _ = _setup(args)
    with tqdm(total=args.steps + 1, desc=f"GD at width {args.width}", file=sys.stderr, disable=args.quiet) as bar:
        result = crosscheck.crosscheck(compiled, values, args.width, args.steps, args.seed,
                                       use_torch=not args.no_torch, progress=lambda: bar.update(1))
    if args.json:
        _print_json(result)
        return 0
    print(f"uv ({result['parameterization']}), width {args.width}, seed {args.seed}, {args.steps} steps from "
          f"f0 = {result['initial']['f']:.6g}, lam0 = {result['initial']['lam']:.6g}: {result['outcome']['name']}")
    for label, payload in (("numpy", result), ("torch", result.get("torch"))):
        if payload:
            print(f"  {label:<6} max |error f| = {payload['max_abs_error_f']:.2e}   max |error lam| = "
                  f"{payload['max_abs_error_lam']:.2e}   max rel error sharpness = {payload['max_rel_error_sharpness']:.2e}")
    if result["error_growth_rate"] is not None:
        print(f"  error grows at {result['error_growth_rate']:.4f} per step over steps "
              f"{result['growth_window'][0]}-{result['growth_window'][1]}; largest Lyapunov exponent "
              f"{result['lyapunov']:.4f}")
    return 0


def cmd_width_scan(args) -> int:
    from tqdm import tqdm

    from numerics import crosscheck

    if args.model != "uv":
        raise UserInputError(f"width-scan has a parameter-space network for 'uv' only, not {args.model!r}")
    try:
        widths = [int(w) for w in args.widths.split(",")]
    except ValueError:
        raise UserInputError(f"--widths must be comma-separated integers, got {args.widths!r}") from None
    if not widths or min(widths) <= 0:
        raise UserInputError("--widths must be positive integers")
    args.set = (args.set or []) + ["n=1"]  # placeholder: every width sets its own n
    compiled, values, _ = _setup(args)
    with tqdm(total=len(widths), desc="widths", file=sys.stderr, disable=args.quiet) as bar:
        result = crosscheck.width_scan(compiled, values, widths, args.steps, args.seed, progress=lambda: bar.update(1))
    if args.plot:
        from numerics import plots

        plots.width_scan_figure(result, args.plot)
    if args.json:
        _print_json(result)
        return 0
    print(f"{'width':>6} {'f0':>10} {'lam0':>8} {'final lam':>10} {'outcome':<12} {'max err f':>9} {'max err lam':>11}  regimes")
    for row in result["rows"]:
        regimes = ", ".join(f"{r['name']} {r['start']}-{r['end']}" for r in row["regimes"][:3])
        final = "-" if row["outcome"]["name"] == "diverged" else f"{row['final_lam']:.5f}"
        print(f"{row['width']:>6} {row['initial']['f']:>10.4f} {row['initial']['lam']:>8.4f} {final:>10} "
              f"{row['outcome']['name']:<12} {row['max_abs_error_f']:>9.1e} {row['max_abs_error_lam']:>11.1e}  {regimes}")
    return 0


def cmd_nn(args) -> int:
    from tqdm import tqdm

    from numerics import nn

    try:
        etas = [float(e) for e in args.eta.split(",")]
    except ValueError:
        raise UserInputError(f"--eta must be a number or a comma-separated list, got {args.eta!r}") from None
    if args.width <= 0:
        raise UserInputError(f"--width must be a positive integer, got {args.width}")
    if args.plot:
        from numerics import plots

        plots.check_path(args.plot)
    if args.dataset not in nn.DATASETS:
        raise UserInputError(f"unknown dataset {args.dataset!r}; expected one of: {', '.join(nn.DATASETS)}")
    if args.arch not in nn.ARCHITECTURES:
        raise UserInputError(f"unknown architecture {args.arch!r}; expected one of: {', '.join(nn.ARCHITECTURES)}")
    runs = []
    for eta in etas:
        with tqdm(total=args.steps + 1, desc=f"{args.arch} eta={eta:g}", file=sys.stderr, disable=args.quiet) as bar:
            result = nn.train(args.dataset, args.arch, eta, args.steps, args.width, args.seed, args.measure_every,
                              args.lanczos_steps, args.samples, progress=lambda: bar.update(1))
        result["uv_prediction"] = nn.uv_prediction(result["eta_lam0"], args.width) if result["eta_lam0"] else None
        runs.append(result)
    if args.plot:
        from numerics import plots

        plots.nn_figure(runs, args.plot)
    table = [{"eta": r["eta"], "eta_lam0": r["eta_lam0"], "outcome": r["outcome"]["name"],
              "regimes": list(dict.fromkeys(x["name"] for x in r["regimes"])),
              "final_sharpness_times_eta_over_2": None if r["final"]["sharpness"] is None
              else r["final"]["sharpness"] * r["eta"] / 2,
              "uv_outcome": r["uv_prediction"]["outcome"]["name"] if r["uv_prediction"] else None,
              "uv_regimes": list(dict.fromkeys(r["uv_prediction"]["regimes"])) if r["uv_prediction"] else None}
             for r in runs]
    if args.json:
        _print_json(runs[0] if len(runs) == 1 else {"runs": runs, "table": table})
        return 0
    print(f"{args.arch} on {args.dataset} ({runs[0]['samples']} examples, {runs[0]['parameters']} parameters), "
          f"{args.steps} steps of full-batch GD, sharpness by Lanczos ({args.lanczos_steps} HVPs) every "
          f"{args.measure_every} steps")
    print(f"{'eta':>6} {'eta*lam0':>8} {'S_end*eta/2':>11}  {'network':<60} UV model (same eta*lam0)")
    for row in table:
        final = "-" if row["final_sharpness_times_eta_over_2"] is None else f"{row['final_sharpness_times_eta_over_2']:.3f}"
        net = ", ".join(row["regimes"]) or row["outcome"]
        if row["outcome"] == "diverged":
            net = (net + ", " if row["regimes"] else "") + "diverged"
        uv = ", ".join(row["uv_regimes"] or []) + ("" if row["uv_outcome"] != "diverged" else " (diverged)")
        print(f"{row['eta']:>6g} {row['eta_lam0']:>8.3f} {final:>11}  {net:<60} {uv}")
    return 0


def cmd_sweep(args) -> int:
    from tqdm import tqdm

    from numerics import sweep

    if args.plot:
        from numerics import plots

        plots.check_path(args.plot)
    axes = [sweep.parse_axis(text) for text in args.vary or []]
    if not args.out.endswith(".zarr"):
        raise UserInputError(f"--out must end in .zarr, got {args.out!r}")
    options = _model_options(args)
    from .registry import get_model

    model = get_model(args.model, **options)
    parameterization = model.check_parameterization(args.parameterization)
    planned = sweep.plan(args.model, parameterization, options, _assignments(args.set),
                         _assignments(args.init, "--init"), axes, args.measure, args.out, args.steps,
                         tile=(args.tile, args.tile))
    with tqdm(total=len(planned["jobs"]), desc="tiles", file=sys.stderr, disable=args.quiet) as bar:
        summary = sweep.execute(planned, args.scheduler, progress=lambda: bar.update(1))
    if args.plot:
        from numerics import plots

        plots.sweep_figure(sweep.load(args.out), args.plot, f"{args.model}: {args.measure}")
    if args.json:
        _print_json(summary)
    else:
        print(f"{summary['out']}: {summary['tiles']} tiles, {summary['computed']} computed, "
              f"{summary['skipped']} already done")
        if args.plot:
            print(f"figure written to {args.plot}")
    return 0


def cmd_report(args) -> int:
    from tqdm import tqdm

    from numerics import report

    with tqdm(total=report.STEPS, desc="report", file=sys.stderr, disable=args.quiet) as bar:
        results = report.build(args.out, args.quick, args.scheduler,
                               progress=lambda name: (bar.set_postfix_str(name), bar.update(1)))
    pdf = results["pdf"]
    print(f"wrote {args.out}/report.tex, {args.out}/results.json and {len(results['figures'])} figures (PNG and PDF)")
    print(f"report.pdf: {'built with ' + pdf['engine'] if pdf.get('built') else pdf.get('note', 'LaTeX failed')}")
    return 0


def cmd_lyapunov(args) -> int:
    from numerics import dynamics

    compiled, values, initial = _setup(args)
    if args.batches < 2 or args.steps < args.batches:
        raise UserInputError("--steps must be at least --batches, and --batches at least 2")
    result = dynamics.lyapunov_spectrum(compiled, values, initial, args.steps, args.transient, args.batches)
    payload = {"model": compiled.model.name, "state": compiled.state_names, "steps": args.steps, **result}
    if result["diverged_at"] is not None:
        payload["outcome"] = {"name": "diverged", "step": result["diverged_at"]}
    if args.json:
        _print_json(payload)
        return 0
    if result["diverged_at"] is not None:
        print(f"diverged at step {result['diverged_at']}: no exponents")
        return 0
    for exponent, error in zip(result["exponents"], result["stderr"]):
        print(f"{exponent:+.10f} ± {error:.2e}")
    return 0


def _variant_options(p):
    p.add_argument("--loss", metavar="EXPR", help="product: your loss, e.g. '(a*b - y)^2/2' (y is the target)")
    p.add_argument("--depth", type=_positive_int("--depth"), help="product: number of factors (default 2)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sharpness", description="Sharpness dynamics of gradient descent: derive, iterate, check.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("models", help="list the models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_models)

    p = commands.add_parser("derive", help="derive a model's results symbolically")
    p.add_argument("model")
    p.add_argument("--parameterization", "-p")
    p.add_argument("--only", metavar="RESULT", help="derive RESULT and what it needs, nothing more")
    p.add_argument("--latex", metavar="PATH", help="write a standalone LaTeX document")
    _variant_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_derive)

    def common(p, init=True):
        p.add_argument("model")
        p.add_argument("--parameterization", "-p")
        p.add_argument("--set", action="append", metavar="NAME=VALUE")
        if init:
            p.add_argument("--init", action="append", metavar="STATE=VALUE")
        p.add_argument("--json", action="store_true")
        _variant_options(p)

    p = commands.add_parser("fixed-points", help="fixed points, eigenvalues and stability at given parameters")
    common(p, init=False)
    p.set_defaults(run=cmd_fixed_points)

    p = commands.add_parser("run", help="iterate the derived map: trajectory, sharpness, outcome, regimes")
    common(p)
    p.add_argument("--steps", type=_positive_int("--steps"), required=True)
    p.add_argument("--every", type=_positive_int("--every"), default=1, help="keep every K-th step")
    p.add_argument("--plot", metavar="PATH")
    p.set_defaults(run=cmd_run)

    p = commands.add_parser("bifurcation", help="orbit diagram over a parameter range")
    common(p)
    p.add_argument("--vary", required=True, metavar="PARAM")
    p.add_argument("--range", nargs=2, type=_real("--range"), required=True, metavar=("A", "B"))
    p.add_argument("--points", type=_positive_int("--points"), default=1000)
    p.add_argument("--steps", type=_positive_int("--steps"), default=2000)
    p.add_argument("--keep", type=_positive_int("--keep"), default=200)
    p.add_argument("--plot", metavar="PATH")
    p.set_defaults(run=cmd_bifurcation)

    p = commands.add_parser("basin", help="outcome and final sharpness over a grid of initial states")
    common(p)
    p.add_argument("--grid", action="append", metavar="STATE=A:B:N", help="give two")
    p.add_argument("--steps", type=_positive_int("--steps"), default=2000)
    p.add_argument("--plot", metavar="PATH")
    p.set_defaults(run=cmd_basin)

    p = commands.add_parser("cascade", help="flip bifurcations of the period-doubling cascade and Feigenbaum's delta")
    common(p, init=False)
    p.add_argument("--vary", required=True, metavar="PARAM")
    p.add_argument("--doublings", type=_positive_int("--doublings"), default=14,
                   help="number of flips to locate (period up to 2^(N-1))")
    p.add_argument("--digits", type=_positive_int("--digits"), default=40, help="mpmath refinement precision")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_cascade)

    p = commands.add_parser("crosscheck", help="parameter-space GD at a finite width against the derived map")
    common(p, init=False)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--steps", type=_positive_int("--steps"), default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch run even if torch is installed")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=cmd_crosscheck)

    p = commands.add_parser("width-scan", help="cross-check and dynamics over widths (SP depends on n, muP not)")
    common(p, init=False)
    p.add_argument("--widths", default=",".join(str(2 ** i) for i in range(13)))
    p.add_argument("--steps", type=_positive_int("--steps"), default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="PATH")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=cmd_width_scan)

    p = commands.add_parser("nn", help="MLP or CNN on digits with full-batch GD: sharpness, regimes, UV comparison")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--arch", default="mlp")
    p.add_argument("--eta", required=True, help="a step size or a comma-separated list (gives a table)")
    p.add_argument("--steps", type=_positive_int("--steps"), default=400)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--samples", type=_positive_int("--samples"), default=512,
                   help="first N examples of the data set (full batch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--measure-every", type=_positive_int("--measure-every"), default=5)
    p.add_argument("--lanczos-steps", type=_positive_int("--lanczos-steps"), default=30)
    p.add_argument("--json", action="store_true")
    p.add_argument("--plot", metavar="PATH")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=cmd_nn)

    for name, helptext, plot_required in (
            ("sweep", "a measure over a 1-D or 2-D grid, tiled on Dask, stored in Zarr, resumable", False),
            ("phase-diagram", "a sweep drawn as a phase diagram (default measure: regime)", True)):
        p = commands.add_parser(name, help=helptext)
        common(p)
        p.add_argument("--vary", action="append", required=True, metavar="NAME=A:B:N[:log]")
        p.add_argument("--measure", default="outcome" if name == "sweep" else "regime",
                       help="outcome, period, final-sharpness, lyapunov or regime")
        p.add_argument("--out", required=True, metavar="PATH.zarr")
        p.add_argument("--steps", type=_positive_int("--steps"), default=1000)
        p.add_argument("--tile", type=_positive_int("--tile"), default=16)
        p.add_argument("--scheduler", metavar="ADDRESS", help="tcp://HOST:PORT of a running Dask scheduler")
        p.add_argument("--plot", metavar="PATH", required=plot_required)
        p.add_argument("--quiet", action="store_true")
        p.set_defaults(run=cmd_sweep)

    p = commands.add_parser("report", help="the main job: the whole analysis as report.tex, results.json, figures")
    p.add_argument("--out", default="report")
    p.add_argument("--quick", action="store_true", help="smaller grids and fewer steps (CI)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="tcp://HOST:PORT of a running Dask scheduler")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=cmd_report)

    p = commands.add_parser("lyapunov", help="Lyapunov spectrum by Benettin's QR method")
    common(p)
    p.add_argument("--steps", type=_positive_int("--steps"), default=100_000)
    p.add_argument("--transient", type=int, default=1000)
    p.add_argument("--batches", type=int, default=20)
    p.set_defaults(run=cmd_lyapunov)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UserInputError as error:
        print(f"sharpness: error: {error}", file=sys.stderr)
        return 2
    except DerivationError as error:  # the model is outside what the derivations can prove; not a crash
        print(f"sharpness: derivation failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sharpness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
