"""The grammar of the ``sharpness`` command line (argparse): subcommands, options and their help."""
from __future__ import annotations

import argparse
import functools
import math

from analysis.errors import UserInputError

from . import central_flow, commands, networks


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's help with its default appended where it has one and the text does not already give it
    (argparse's ``ArgumentDefaultsHelpFormatter`` appends it to flags and to options without a default too), and
    the epilog (example command lines) printed as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        has_default = action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0
        if has_default and action.option_strings and "default" not in text:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # argparse prints the whole usage; we want one line and status 2
        raise UserInputError(message)


# Shown at the end of each subcommand's --help (``tests/numerics/cli/test_cli.py`` runs every one of them).
EXAMPLES = {
    "models": ["sharpness models", "sharpness models --json"],
    "derive": ["sharpness derive uv -p mup --only fixed_points", "sharpness derive uv --latex uv.tex"],
    "fixed-points": ["sharpness fixed-points uv --set eta=0.5 --set y=1 --set n=4"],
    "run": ["sharpness run uv-eos --set k=1.2 --steps 500",
            "sharpness run uv -p mup --set eta=1.5 --set y=1 --init lam=0.5 --steps 2000 --plot run.png"],
    "bifurcation": ["sharpness bifurcation uv-eos --vary k=1:2.2:800 --plot orbit.png",
                    "sharpness bifurcation uv-eos --vary k=1.3:1.3:1 --json"],
    "basin": ["sharpness basin uv --set eta=1 --set y=1 --set n=4 --grid f=-2:2:64 --grid lam=0.1:3:64"],
    "cascade": ["sharpness cascade uv-eos --vary k --doublings 12"],
    "crosscheck": ["sharpness crosscheck uv --width 1024 --set eta=0.5 --set y=1",
                   "sharpness crosscheck xy-quartic --set eta=0.2"],
    "width-scan": ["sharpness width-scan uv -p mup --set eta=1.5 --set y=1 --widths 1,4,16,64"],
    "nn": ["sharpness nn --arch mlp --set eta=0.15 --steps 400", "sharpness nn --vary eta=0.05,0.1,0.15 --json",
           "sharpness nn --vary eta=0.05:0.15:3 --out etas.json",
           "sharpness nn --samples 512 --batch-size 64 --set eta=0.1 --steps 600",
           "sharpness nn --samples 512 --optimizer adam --set eta=0.001 --set beta1=0.9 --steps 600",
           "sharpness nn --vary eta=0.1:0.3:3 --vary width=16,64 --vary seed=0,1 --samples 256 --out grid.json "
           "--scheduler tcp://127.0.0.1:8786"],
    "sweep": ["sharpness sweep uv-eos --vary k=0.8:2.2:256 --measure period --out k.zarr"],
    "phase-diagram": ["sharpness phase-diagram uv --set y=1 --set n=4 --vary eta=0.1:3:64 "
                      "--vary lam=0.1:4:64:log --out phase.zarr --plot phase.png"],
    "report": ["sharpness report --out report", "sharpness report --quick --out report-quick"],
    "lyapunov": ["sharpness lyapunov uv-eos --set k=1.9 --steps 100000"],
    "central-flow": central_flow.EXAMPLES,
    "continuation": ["sharpness continuation uv-eos --vary k=0.5:1.4 --doublings 10 --plot cascade.png",
                     "sharpness continuation uv -p mup --set eta=0.5 --set y=1 --set n=4 --start IV --vary lam=1:6",
                     "sharpness continuation uv -p mup --set y=1.8 --set x=1 --set n=4 --vary eta=0.6:1.4 "
                     "--vary y=0.7:2 --init f=2.2096 --init lam=4.4192 --start-period 2 --period 4 --curve PD"],
}


def _add_examples(subcommands) -> None:
    for name, parser in subcommands.choices.items():
        lines = EXAMPLES.get(name, [])
        parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in lines) if lines else None


def _option_value(name, convert, valid, requirement):
    """An argparse type: ``convert(text)``, which must satisfy ``valid``; the error says ``requirement``."""
    def parse(text):
        try:
            value = convert(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{name} must be {requirement}, got {text!r}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"{name} must be {requirement}, got {text}")
        return value
    return parse


def _positive_int(name):
    return _option_value(name, int, lambda v: v > 0, "a positive integer")


def _non_negative_int(name):
    return _option_value(name, int, lambda v: v >= 0, "a non-negative integer")


def _replaced(option, nargs=None):
    """A former option, hidden from --help: kept in the grammar only so that using it is refused (by
    :func:`commands.refuse_replaced`) with the new form."""
    return {"dest": "replaced_" + option.strip("-"), "nargs": nargs, "help": argparse.SUPPRESS, "default": None}


def _positive_real(name):
    return _option_value(name, float, lambda v: math.isfinite(v) and v > 0, "a positive number")


def _non_empty(name):
    def parse(text):
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{name} must not be empty")
        return text
    return parse


SET_HELP = "a parameter value, e.g. --set eta=0.5 (repeat for each; `sharpness models` lists them)"
INIT_HELP = "an initial state value, e.g. --init lam=1 (repeat; defaults from the model)"
PLOT_HELP = "write a figure (.png, .pdf or .svg)"
JSON_HELP = "print the result as JSON (the Python API's .to_dict())"
MEMORY_HELP = "memory budget for this request, e.g. 2G (default: a quarter of the RAM, or $SHARPNESS_MAX_MEMORY)"
FORCE_HELP = "run work estimated to take more than a day anyway"


def _variant_options(p):
    p.add_argument("--loss", metavar="EXPR",
                   help="product: your loss, e.g. '(a*b - y)^2/2' (y is the target)")
    p.add_argument("--depth", type=_positive_int("--depth"), help="product: number of factors (default 2)")


def _model_arguments(p):
    p.add_argument("model", help="a model name (`sharpness models`) or the path of a file defining MODEL")
    p.add_argument("--parameterization", "-p", help="e.g. sp or mup for uv (default: the model's first)")
    p.add_argument("--optimizer", metavar="NAME",
                   help="gd (default), heavy-ball or nesterov (PyTorch's SGD convention; momentum: --set beta=0.9), "
                        "sgd (mini-batch, with --batch-size) or adam (--set beta1=, beta2=, eps=; torch.optim.Adam)")
    p.add_argument("--batch-size", type=_positive_int("--batch-size"), metavar="B",
                   help="--optimizer sgd: examples per step, drawn uniformly without replacement (1 <= B <= m)")


@functools.lru_cache(maxsize=1)
def shared_parser() -> argparse.ArgumentParser:
    """The parser :func:`numerics.cli.main` parses with, built once per process (a few ms; a library caller may
    call main many times). Parsing does not change it."""
    return build_parser()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sharpness", description="Sharpness dynamics of gradient descent: derive, iterate, check.",
                     epilog="`sharpness COMMAND --help` explains a command and ends with examples.")
    parser.add_argument("--version", action="version", version=f"sharpness {_version()}")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = subcommands.add_parser("models", help="list the models")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(run=commands.cmd_models)

    p = subcommands.add_parser("derive", help="derive a model's results symbolically")
    _model_arguments(p)
    p.add_argument("--only", metavar="RESULT", type=_non_empty("--only"),
                   help="derive RESULT and what it needs, nothing more")
    p.add_argument("--latex", metavar="PATH", type=_non_empty("--latex"), help="write a standalone LaTeX document")
    _variant_options(p)
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.set_defaults(run=commands.cmd_derive)

    def common(p, init=True, budget=True):
        _model_arguments(p)
        p.add_argument("--set", action="append", metavar="NAME=VALUE", help=SET_HELP)
        if init:
            p.add_argument("--init", action="append", metavar="STATE=VALUE", help=INIT_HELP)
        p.add_argument("--json", action="store_true", help=JSON_HELP)
        if budget:
            p.add_argument("--max-memory", metavar="BYTES", help=MEMORY_HELP)
            p.add_argument("--force", action="store_true", help=FORCE_HELP)
        _variant_options(p)

    p = subcommands.add_parser("fixed-points", help="fixed points, eigenvalues and stability at given parameters")
    common(p, init=False, budget=False)
    p.set_defaults(run=commands.cmd_fixed_points, request=commands.fixed_points_request)

    p = subcommands.add_parser("run", help="iterate the derived map: trajectory, sharpness, outcome, regimes")
    common(p)
    p.add_argument("--steps", type=_positive_int("--steps"), required=True, help="number of GD steps")
    p.add_argument("--every", type=_positive_int("--every"), default=1, metavar="K",
                   help="keep every K-th step in the trajectory (regimes are labelled on every step)")
    p.add_argument("--plot", metavar="PATH", type=_non_empty("--plot"), help=PLOT_HELP)
    p.add_argument("--seed", type=_non_negative_int("--seed"), default=0,
                   help="--optimizer sgd: seed of the batch draws")
    p.set_defaults(run=commands.cmd_run, request=commands.run_request)

    p = subcommands.add_parser("bifurcation", help="orbit diagram over a parameter range")
    common(p)
    p.add_argument("--vary", required=True, metavar="PARAM=A:B:N",
                   help="the parameter and its N values from A to B, e.g. --vary k=1:2.2:800 (k=1.3:1.3:1: one value; "
                        "each value is checked against the parameter's domain)")
    p.add_argument("--range", **_replaced("--range", 2))
    p.add_argument("--points", **_replaced("--points"))
    p.add_argument("--steps", type=_positive_int("--steps"), default=2000, help="GD steps per value")
    p.add_argument("--keep", type=_positive_int("--keep"), default=200, help="last states kept per value")
    p.add_argument("--plot", metavar="PATH", type=_non_empty("--plot"), help=PLOT_HELP)
    p.set_defaults(run=commands.cmd_bifurcation, request=commands.bifurcation_request)

    p = subcommands.add_parser("basin", help="outcome and final sharpness over a grid of initial states")
    common(p)
    p.add_argument("--grid", action="append", metavar="STATE=A:B:N",
                   help="an axis of initial states, e.g. --grid f=-2:2:64 (N points from A to B); give two")
    p.add_argument("--steps", type=_positive_int("--steps"), default=2000, help="GD steps per initial state")
    p.add_argument("--plot", metavar="PATH", type=_non_empty("--plot"), help=PLOT_HELP)
    p.set_defaults(run=commands.cmd_basin, request=commands.basin_request)

    p = subcommands.add_parser("cascade", help="flip bifurcations of the period-doubling cascade and Feigenbaum's delta")
    common(p, init=False)
    p.add_argument("--init", action="append", metavar="STATE=VALUE",
                   help="where several fixed points flip, follow the cascade of the one nearest this state, e.g. "
                        "--init a=1 --init b=1 (unnamed coordinates 0; default: the lowest flip)")
    p.add_argument("--vary", required=True, metavar="PARAM",
                   help="the parameter along which the cascade runs (a name: the cascade finds its own range)")
    p.add_argument("--doublings", type=_positive_int("--doublings"), default=14,
                   help="number of flips to locate (period up to 2^(N-1); at most 18)")
    p.add_argument("--digits", type=_positive_int("--digits"), default=40,
                   help="mpmath refinement precision (15 to 300)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=commands.cmd_cascade, request=commands.cascade_request)

    p = subcommands.add_parser("continuation", help="pseudo-arclength continuation of fixed points and period-J "
                               "orbits: LP/PD/NS/BP, flip normal forms, branch switching, two-parameter curves")
    common(p, budget=False)
    p.add_argument("--vary", action="append", required=True, metavar="NAME=A:B",
                   help="the continuation parameter and its range (from A towards B), e.g. --vary k=0.5:1.4; "
                        "give two with --curve")
    p.add_argument("--start", metavar="LABEL", help="a fixed-point label of `sharpness fixed-points` (a family: "
                   "traced along itself when --vary names its free state variable; else its free coordinate is "
                   "held, at --init NAME=V if given)")
    p.add_argument("--period", type=_positive_int("--period"), default=1,
                   help="the period J (map F^J): of the start, or with --curve of the curve")
    p.add_argument("--start-period", type=_positive_int("--start-period"), default=1,
                   help="with --curve: the period of the orbit through --init (default 1)")
    p.add_argument("--doublings", type=_non_negative_int("--doublings"), default=0,
                   help="switch to the period-doubled branch at each flip, up to N times")
    p.add_argument("--curve", choices=("PD", "LP", "NS"), type=str.upper,
                   help="two-parameter continuation of this bifurcation curve of the period-J orbit")
    p.add_argument("--max-points", type=_positive_int("--max-points"), default=400, help="points per branch")
    p.add_argument("--plot", metavar="PATH", type=_non_empty("--plot"), help=PLOT_HELP)
    p.add_argument("--over", metavar="PATH.zarr", help="draw the curves over this sweep's phase diagram")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=commands.cmd_continuation, request=commands.continuation_request)

    p = subcommands.add_parser("crosscheck", help="parameter-space GD (at a finite width) against the derived map")
    common(p)
    p.add_argument("--width", type=_positive_int("--width"),
                   help="the width n of a width-n model (required for those; not for coordinate models)")
    p.add_argument("--steps", type=_positive_int("--steps"), default=100, help="GD steps")
    p.add_argument("--seed", type=_non_negative_int("--seed"), default=0, help="seed of the initial weights")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch run even if torch is installed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=commands.cmd_crosscheck, request=commands.crosscheck_request)

    p = subcommands.add_parser("width-scan", help="cross-check and dynamics over widths (SP depends on n, muP not)")
    common(p, init=False)
    p.add_argument("--widths", default=",".join(str(2 ** i) for i in range(13)),
                   help="comma-separated widths, e.g. --widths 1,4,16,64")
    p.add_argument("--steps", type=_positive_int("--steps"), default=200, help="GD steps per width")
    p.add_argument("--seed", type=_non_negative_int("--seed"), default=0, help="seed of the initial weights")
    p.add_argument("--plot", metavar="PATH", type=_non_empty("--plot"), help=PLOT_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=commands.cmd_width_scan, request=commands.width_scan_request)

    p = subcommands.add_parser("nn", help="a real network (built-in or yours) on digits or your .npz, GD (full batch "
                                          "or mini-batches, with or without momentum) or Adam: top Hessian "
                                          "eigenvalues, batch or preconditioned sharpness, regimes, EoS period and "
                                          "spectrum, UV comparison")
    p.add_argument("--dataset", default=None, help="bundled data set (digits; the default without --data)")
    p.add_argument("--data", metavar="PATH.npz", type=_non_empty("--data"),
                   help="your data: X (N x d or N x C x H x W) and y (N integer labels, or N or N x m float targets)")
    p.add_argument("--arch", default=None, help="mlp (default), cnn, linear, resnet or uv (two linear layers: the UV "
                                                "model on one example)")
    p.add_argument("--parameterization", default="pytorch",
                   help="of a built-in --arch: pytorch (default: PyTorch's initialization), or Yang & Hu's sp, ntk "
                        "or mup (one learning rate, per-layer multipliers; docs/networks.md)")
    p.add_argument("--init-scale", type=_option_value("--init-scale", float, lambda v: 0 < v < float("inf"),
                                                      "a positive number"), default=1.0, metavar="S",
                   help="multiplier on the standard deviation of the initial weights (default 1)")
    p.add_argument("--model", metavar="PATH.py:FACTORY", type=_non_empty("--model"),
                   help="your model: FACTORY(input_shape, outputs) returning a torch.nn.Module")
    p.add_argument("--vary", action="append", metavar="NAME=A:B:N",
                   help="a setting's values: eta=A:B:N (N values from A to B) or eta=E1,E2,...; also width, seed, "
                        "steps, samples, beta, init_scale, ... (the numbers a run takes) and parameterization=ntk,mup; "
                        "several --vary: their product; one run "
                        "per value, each a Dask task (a local cluster, or --scheduler)")
    p.add_argument("--eta", **_replaced("--eta"))
    p.add_argument("--steps", type=_non_negative_int("--steps"), default=400, help="optimizer steps")
    p.add_argument("--width", type=int, default=64, help="hidden width of the built-in architectures")
    p.add_argument("--samples", type=_positive_int("--samples"), default=None,
                   help="first N examples (full batch); default all (digits: all if the run fits --time-budget)")
    p.add_argument("--seed", type=_non_negative_int("--seed"), default=0,
                   help="seed of the initialisation and of the batches")
    p.add_argument("--dtype", default="float64", help="float64 (default) or float32")
    p.add_argument("--optimizer", default="gd",
                   help="gd (default), heavy-ball or nesterov (torch.optim.SGD), sgd (gd on mini-batches: needs "
                        "--batch-size) or adam (torch.optim.Adam, full batch)")
    p.add_argument("--batch-size", type=_positive_int("--batch-size"), metavar="B",
                   help="mini-batches of B examples (gd, sgd, heavy-ball, nesterov): each epoch a seeded permutation "
                        "cut into batches, the remainder dropped; the batch sharpness is measured beside the "
                        "spectrum; B = the number of examples is full batch")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="the step size of one run, e.g. --set eta=0.15 (or --vary eta=...), the momentum of "
                        "heavy-ball and nesterov, e.g. --set beta=0.9, and Adam's beta1, beta2, eps (default "
                        "0.9, 0.999, 1e-8)")
    p.add_argument("--top-k", type=_positive_int("--top-k"), default=1,
                   help="track the K largest algebraic Hessian eigenvalues")
    p.add_argument("--measure-every", type=_positive_int("--measure-every"), default=5,
                   help="steps between Hessian measurements (1 for the period and power spectrum)")
    p.add_argument("--max-hvps", type=_positive_int("--max-hvps"), default=None,
                   help="at most this many Hessian-vector products per measurement (default max(300, 20 K))")
    p.add_argument("--tol", type=_option_value("--tol", float, lambda v: 0 < v < 1, "a number in (0, 1)"),
                   default=None, help="eigen-solver residual tolerance relative to the top eigenvalue "
                                      "(default 1e-5; float32 1e-3)")
    p.add_argument("--time-budget", type=_option_value("--time-budget", float, lambda v: v > 0, "positive"),
                   default=None, help="seconds per run that fix the default --samples of digits (default 240)")
    p.add_argument("--threads", type=_positive_int("--threads"), default=1, help="PyTorch and BLAS threads")
    p.add_argument("--out", metavar="PATH.json",
                   help="save each finished run here; a rerun with the same options computes only the missing runs")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="tcp://HOST:PORT of a running Dask scheduler for the runs (default: a local cluster, one "
                        "single-threaded worker process per core)")
    p.add_argument("--max-memory", metavar="BYTES", help=MEMORY_HELP)
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.add_argument("--plot", metavar="PATH", type=_non_empty("--plot"), help=PLOT_HELP + ": sharpness and loss")
    p.add_argument("--orbit-plot", metavar="PATH", type=_non_empty("--orbit-plot"),
                   help=PLOT_HELP + ": sharpness orbit diagram against eta and the EoS power spectra")
    p.add_argument("--phase-plot", metavar="PATH", type=_non_empty("--phase-plot"),
                   help=PLOT_HELP + " (a grid): each run's early regime over (eta*lam0, width) beside the UV model's "
                                    "on the same axes, one row per parameterization")
    p.add_argument("--central-flow", action="store_true",
                   help="also the network's central flow from the same start (Cohen et al. 2025), compared with "
                        "GD's two-step averages (one eta, gd; k = --top-k <= 8)")
    p.add_argument("--substeps", type=_positive_int("--substeps"), default=4,
                   help="with --central-flow: Euler substeps per GD step (even; error O(1/substeps))")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=networks.cmd_nn, request=networks.network_request)

    for name, helptext, plot_required in (
            ("sweep", "a measure over a 1-D or 2-D grid, tiled on Dask, stored in Zarr, resumable", False),
            ("phase-diagram", "a sweep drawn as a phase diagram (default measure: regime)", True)):
        p = subcommands.add_parser(name, help=helptext)
        common(p)
        p.add_argument("--vary", action="append", required=True, metavar="NAME=A:B:N[:log]",
                       help="an axis: a parameter or an initial state variable, N points from A to B (log: "
                            "log-spaced), e.g. --vary eta=0.1:3:64 --vary lam=0.01:10:50:log; give one or two")
        p.add_argument("--measure", default="outcome" if name == "sweep" else "regime",
                       help="outcome, period, final-sharpness, lyapunov or regime")
        p.add_argument("--out", required=True, metavar="PATH.zarr", help="the Zarr store (resumed if it exists)")
        p.add_argument("--steps", type=_positive_int("--steps"), default=1000, help="GD steps per grid point")
        p.add_argument("--tile", type=_positive_int("--tile"), default=16, help="tile side (points per task)")
        p.add_argument("--scheduler", metavar="ADDRESS", help="tcp://HOST:PORT of a running Dask scheduler")
        p.add_argument("--plot", metavar="PATH", required=plot_required, type=_non_empty("--plot"), help=PLOT_HELP)
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.set_defaults(run=commands.cmd_sweep, request=commands.sweep_request)

    p = subcommands.add_parser("report", help="the main job: the whole analysis as report.tex, results.json, figures")
    p.add_argument("--out", default="report", help="output directory")
    p.add_argument("--quick", action="store_true", help="smaller grids and fewer steps (CI)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace files in --out that the report did not write (e.g. your own report.tex)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="tcp://HOST:PORT of a running Dask scheduler")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=commands.cmd_report)

    p = subcommands.add_parser("lyapunov", help="Lyapunov spectrum by Benettin's QR method")
    common(p)
    p.add_argument("--steps", type=_positive_int("--steps"), default=100_000, help="steps averaged over")
    p.add_argument("--transient", type=_non_negative_int("--transient"), default=1000,
                   help="steps discarded first (overflow in them is reported)")
    p.add_argument("--batches", type=_positive_int("--batches"), default=20,
                   help="batches for the standard error (at least 2)")
    p.add_argument("--seed", type=_non_negative_int("--seed"), default=0,
                   help="--optimizer sgd: seed of the batch draws")
    p.set_defaults(run=commands.cmd_lyapunov, request=commands.lyapunov_request)
    central_flow.add_parser(subcommands, common, _positive_real, _non_empty, PLOT_HELP)
    _add_examples(subcommands)
    return parser


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("sharpness-dynamics")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"
