"""``sharpness central-flow``: the central flow of a model (:func:`numerics.central_flow`), and GD beside it.

Kept apart from :mod:`.commands` (two hooks only: :func:`add_parser` in the grammar, :func:`run` as its command)."""
from __future__ import annotations

from analysis.errors import UserInputError

EXAMPLES = ["sharpness central-flow xy-quartic --set eta=0.4 --time 1000",
            "sharpness central-flow uv-eos --set k=1.05 --time 300 --gd --window 100:300 --json",
            "sharpness central-flow uv -p mup --set eta=1.5 --set y=1 --set n=4 --time 200 --gd --plot flow.png"]


def add_parser(subcommands, common, positive_number, non_empty, plot_help) -> None:
    """The subcommand's grammar; ``common`` adds the shared model options (``--set``, ``--init``, ``--json``)."""
    p = subcommands.add_parser("central-flow", help="the central flow: GD's time-averaged dynamics at the edge of "
                                                    "stability (Cohen et al. 2025), optionally against GD")
    common(p, budget=False)
    p.add_argument("--time", type=positive_number("--time"), required=True, metavar="T",
                   help="horizon in GD steps")
    p.add_argument("--gd", action="store_true", help="also run GD from the same start and compare its two-step "
                                                     "averages with the flow at t + 1/2")
    p.add_argument("--window", metavar="A:B", help="with --gd: the GD steps compared (default the second half)")
    p.add_argument("--samples", type=int, default=401, help="uniform times in the trajectory (events are added)")
    p.add_argument("--rtol", type=positive_number("--rtol"), default=1e-10, help="DOP853 relative tolerance")
    p.add_argument("--plot", metavar="PATH", type=non_empty("--plot"), help=plot_help)
    p.set_defaults(run=run, request=request)


def parse_window(text):
    """``A:B`` as two floats, else a one-line error."""
    if text is None:
        return None
    low, sep, high = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return float(low), float(high)
    except ValueError:
        raise UserInputError(f"malformed --window {text!r}; expected A:B, e.g. --window 100:300") from None


def request(args):
    """argv -> :class:`~numerics.requests.CentralFlowRequest`."""
    from ..requests import CentralFlowRequest
    from .commands import problem

    return CentralFlowRequest(problem(args), args.time, gd=args.gd, window=parse_window(args.window),
                              samples=args.samples, rtol=args.rtol)


def run(args) -> int:
    from . import render
    from .commands import check_plot

    check_plot(args)
    flow = request(args).call()
    if args.plot:
        flow.plot(args.plot)
    if args.json:
        render.print_json(flow.to_dict())
        return 0
    print(summary(flow))
    if args.plot:
        print(f"figure written to {args.plot}")
    return 0


def summary(flow) -> str:
    """The text output: events, the final state, and the GD comparison."""
    names = list(flow.initial)
    state = lambda values: ", ".join(f"{n} = {values[n]:.10g}" for n in names)  # noqa: E731
    lines = [f"central flow of {flow.model} ({flow.parameterization}) for t = {flow.time:g} steps, "
             f"2/eta = {flow.threshold:.10g} (DOP853, rtol {flow.rtol:g})"]
    if flow.projected_start:
        lines.append(f"  start above 2/eta (sharpness {flow.projected_start['sharpness_before']:.10g}): projected to "
                     f"{state(flow.projected_start['to'])}")
    for event in flow.events:
        lines.append(f"  t = {event.time:<12.8g} {event.type:<18} {state(event.state)}")
    final = flow.final
    lines.append(f"final ({final['phase']}, t = {final['time']:g}): {state(final)}")
    lines.append(f"  sharpness = {final['sharpness']:.10g}, sigma2 = {final['sigma2']:.6g}, loss = {final['loss']:.6g}, "
                 f"predicted loss = {final['predicted_loss']:.6g}")
    if not flow.complete:
        lines.append(f"not complete: {flow.reason}")
    comparison = flow.gd_comparison
    if comparison is not None:
        low, high = comparison["window"]
        lines.append(f"GD against the flow at t + 1/2, two-step averages over steps {low:g}-{high:g}:")
        if "max_rel_error_state" not in comparison:
            lines.append(f"  {comparison['note']}")
        for name in ("state", "sharpness", "loss", "flow_loss"):
            key = f"max_rel_error_{name}"
            if key not in comparison:
                continue
            label = {"loss": "loss (vs predicted)", "flow_loss": "loss (vs flow L)"}.get(name, name)
            if comparison[key] is None:
                lines.append(f"  {label:<20} not compared (loss at round-off)")
            else:
                lines.append(f"  {label:<20} max rel. error {comparison[key]:.3g}, median "
                             f"{comparison['median_rel_error_' + name]:.3g}")
    return "\n".join(lines)
