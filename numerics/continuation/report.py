"""Report item of issue 10: the UV model's flip curves in a parameter plane (:func:`continuation_section`)."""
from __future__ import annotations

from .one_parameter import continuation
from .two_parameter import continue_curve


# ------------------------------------------------------------------------------------------- report section
REPORT_VALUES = {"x": "1", "n": "4"}
REPORT_PLANE = ("eta=0.6:1.4", "y=0.7:2")
REPORT_Y = "1.8"
# A point of the period-2 orbit on the EoS manifold u = v at eta = 0.6, x = 1, y = 1.8 (k = eta x y = 1.08):
# z1 + z2 = sqrt(1 + 3/k), z1 z2 = 1/k (tests/test_continuation.py), z1 = 1.10795, f = y z1^2, lam = 2 x f (muP).
REPORT_INIT = {"f": "2.2096", "lam": "4.4192"}


def continuation_section(run) -> dict:
    """Report item: the UV model's (muP) flip curves of periods 1 to 16 in the (eta, y) plane, their criticality,
    and alpha from the superstable orbits along the continued cascade (``numerics.report`` calls it like its
    ``section_*`` functions; ``run`` is its :class:`~numerics.report.Run`)."""
    from analysis import load_model

    from .. import plots
    from ..report import _set_args, record

    values = {**REPORT_VALUES, "y": REPORT_Y}
    init_args = [a for k, v in REPORT_INIT.items() for a in ("--init", f"{k}={v}")]
    cascade_run = record(
        ["continuation", "uv", "-p", "mup", *_set_args(values), "--vary", REPORT_PLANE[0], *init_args,
         "--period", "2", "--doublings", "3", "--quiet"],
        lambda: continuation("uv", REPORT_PLANE[0], parameterization="mup", init=REPORT_INIT, period=2,
                             doublings=3, **values))
    curves = {}
    for period in (2, 4, 8, 16):
        curves[period] = record(
            ["continuation", "uv", "-p", "mup", *_set_args(values), *[a for v in REPORT_PLANE for a in ("--vary", v)],
             *init_args, "--start-period", "2", "--period", str(period), "--curve", "PD", "--quiet"],
            lambda period=period: continue_curve(
                "uv", "PD", list(REPORT_PLANE), parameterization="mup", init=REPORT_INIT, start_period=2,
                period=period, max_points=200, **values))
    flip = [e for e in load_model("uv", "mup").eos_map.equations if e.label == "eos-flip-u=v-0"]
    closed = {"period": 1, "expression": str(flip[0].rhs) if flip else "1/(x*y)",
              "source": "sharpness derive uv -p mup --only eos_map (eos-flip-u=v-0): the transverse flip of the "
                        "line of minima IV on the EoS manifold u = v"}
    criticality = [{"period": s["period"], "eta": s["parameters"]["eta"], "b": s["normal_form"]["coefficient"],
                    "criticality": s["normal_form"]["criticality"]}
                   for s in cascade_run["result"]["special_points"] if s["type"] == "PD"]
    run.figure("uv_flip_curves", lambda p: plots.flip_curves_figure(
        {p_: c["result"] for p_, c in curves.items()}, closed, criticality, p,
        "uv (muP), x = 1: flip curves of the EoS cascade in the (eta, y) plane"))
    return {"cascade": cascade_run, "curves": {str(k): v for k, v in curves.items()}, "period_1": closed,
            "criticality": criticality}
