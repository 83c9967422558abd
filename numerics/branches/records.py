"""The typed results of continuation: :class:`Branch` and :class:`Continuation` (``to_dict()`` is the JSON)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


# ------------------------------------------------------------------------------------------------- records
def _complex_json(value):
    value = complex(value)
    return value.real if abs(value.imag) <= 1e-13 * max(1.0, abs(value.real)) else {"re": value.real,
                                                                                     "im": value.imag}


@dataclass
class Branch:
    """A traced branch of period-``period`` orbits: one dict per point (``parameters``, ``state`` -- one point of
    the orbit -- and ``multipliers`` of :math:`D_xF^J`)."""

    period: int
    points: list = field(default_factory=list)
    family: Optional[str] = None  # label of the family of fixed points, if the branch is one

    def to_dict(self) -> dict:
        out = {"period": self.period, "points": self.points}
        if self.family:
            out["family"] = self.family
        return out


@dataclass
class Continuation:
    """The result of :func:`continuation` / :func:`continue_curve`; ``to_dict()`` is ``sharpness continuation
    --json``: ``branches``, ``special_points`` and, for two parameters, ``curves``."""

    model: str
    vary: list
    branches: list
    special_points: list
    curves: list = field(default_factory=list)
    stopped: list = field(default_factory=list)
    alpha: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        out = {"model": self.model, "vary": self.vary, "branches": [b.to_dict() for b in self.branches],
               "special_points": self.special_points}
        if self.curves:
            out["curves"] = self.curves
        if self.alpha:
            out.update(self.alpha)
        out["stopped"] = self.stopped
        return out

    def __str__(self) -> str:
        lines = [f"{len(self.branches)} branch(es): " + ", ".join(
            f"period {b.period} ({len(b.points)} points)" for b in self.branches)]
        for s in self.special_points:
            where = ", ".join(f"{k} = {v:.12g}" for k, v in s["parameters"].items() if k in self.vary)
            state = ", ".join(f"{k} = {v:.8g}" for k, v in s["state"].items())
            nf = s.get("normal_form")
            extra = ""
            if nf:
                extra = f"   b = {nf['coefficient']:.10g} ({nf['criticality']})" if s["type"] == "PD" else \
                    f"   coefficient {nf['coefficient']:.6g} ({nf['criticality']})"
                if nf.get("closed_form"):
                    extra += f"   closed form b = {nf['closed_form']['expression']}"
            lines.append(f"{s['type']:>4}  period {s['period']:<5} {where}   {state}{extra}")
        for curve in self.curves:
            lines.append(f"curve {curve['type']} of period {curve['period']}: {len(curve['points'])} points")
        for key in ("alpha", "alpha_aitken"):
            if self.alpha.get(key):
                lines.append(f"{key} = {self.alpha[key][-1]}")
        lines += [f"stopped: {s}" for s in self.stopped]
        return "\n".join(lines)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{s['type']}@{s['period']}" for s in self.special_points)
        return (f"Continuation({self.model}, vary {', '.join(self.vary)}: {len(self.branches)} branch(es), "
                f"{len(self.curves)} curve(s); special points {kinds or 'none'})")

    def plot(self, ax=None, over=None):
        from ..plots import draw_continuation

        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        return draw_continuation(ax, self.to_dict(), over)
