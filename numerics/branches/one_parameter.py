"""One-parameter continuation (:func:`continuation`): starts, branch switching at flips, special points with
their normal forms, and alpha from the superstable orbits along the cascade."""
from __future__ import annotations

import time

import numpy as np
import sympy as sp

from analysis.values import value_mapping
from analysis.errors import DomainError, UserInputError

from .derivatives import NORMALISATION, _eigenvectors, flip_coefficient, fold_coefficient, kernels, ns_coefficient
from .engine import (BEYOND_FLIP, DEGENERATE, MAX_DOUBLINGS, MAX_POINTS, _correct, _make_point, _OrbitSystem,
                     _tangent, _trace, flip_criticality, genuine_special)
from ..axis import Axis
from .records import Branch, Continuation, _complex_json


# ------------------------------------------------------------------------------------------- the front end
def _interval(vary):
    """``vary`` (an :class:`~numerics.axis.Axis` or ``(name, (A, B))``) as ``(name, A, B)``: two different
    ends, traced from A towards B."""
    axis = Axis.of(vary)
    if len(axis) != 2 or axis.values[0] == axis.values[1]:
        raise UserInputError(f"a continuation's range is an interval of two different ends (from A towards B), "
                             f"e.g. Axis.parse('k=0.5:1.4'); got {axis.to_text()!r}")
    return axis.name, axis.values[0], axis.values[1]


def _check_domain(model, name, low, high):
    for p in model.parameters:
        if p.name == name:
            if p.domain in ("positive", "positive_integer") and min(low, high) <= 0:
                raise DomainError(f"the range of {name}", f"{low}:{high}", f"inside the domain of {name} (positive)")
            return "parameter"
    for s in model.state:
        if s.name == name:
            return "state"
    raise UserInputError(f"unknown parameter {name!r} of model {model.name!r} to vary; expected one of: "
                         f"{', '.join([p.name for p in model.parameters] + [s.name for s in model.state])}")


class _Setup:
    def __init__(self, model, parameterization, values, options=None):
        from analysis import DerivedModel
        from ..compile import compile_model

        derived = model if isinstance(model, DerivedModel) else DerivedModel(model, parameterization,
                                                                            **(options or {}))
        self.derived = derived
        self.model = derived.model
        self.compiled = compile_model(derived)
        self.kern = kernels(self.compiled)
        self.values = values
        self.parameter_names = self.compiled.parameter_names
        self.state_names = self.compiled.state_names

    def bind(self, vary_names):
        return self.model.bind_values(self.values, placeholders=tuple(vary_names))

    def point_dict(self, x, p, mu):
        return {"parameters": {n: float(v) for n, v in zip(self.parameter_names, p)},
                "state": {n: float(v) for n, v in zip(self.state_names, x)},
                "multipliers": [_complex_json(m) for m in sorted(mu, key=lambda z: (-abs(z), z.real, z.imag))]}


def _start(setup, bound, vary, low, start, init):
    """The first point: a labelled fixed point (or family), an initial guess corrected by Newton, or by default
    the first attracting isolated fixed point at the start of the range."""
    vary_symbol = setup.model.parameter(vary).symbol if vary in setup.parameter_names else None
    values = dict(bound)
    if vary_symbol is not None:
        values[vary_symbol] = sp.Float(low, 30)
    p = setup.compiled.parameter_vector(values)
    family = None
    if start is not None:
        table = setup.derived.fixed_points_at({s.name: values[s.symbol] for s in setup.model.parameters})
        labels = [pt.label for pt in table]
        if start not in labels:
            raise UserInputError(f"unknown --start label {start!r}; fixed points of {setup.model.name!r}: "
                                 f"{', '.join(labels)}")
        chosen = table[start]
        x = np.array([chosen.coordinates[n] for n in setup.state_names], float)
        if chosen.line is not None:
            free = chosen.line["free"]
            family = (start, [free] if isinstance(free, str) else list(free))
        if init:
            # On a family, --init sets its free coordinates (the section held while a parameter varies).
            extra = [n for n in init if family is None or n not in family[1]]
            if extra:
                raise UserInputError(f"--init {extra[0]} with --start {start}: only the free coordinates of a "
                                     f"family ({', '.join(family[1]) if family else 'none here'}) can be set")
            for n, v in init.items():
                x[setup.state_names.index(n)] = float(v)
            x = _on_family(setup, x, p, family[1])
    elif init:
        x = np.array([float(init.get(n, 0.0)) for n in setup.state_names], float)
        missing = [n for n in init if n not in setup.state_names]
        if missing:
            raise UserInputError(f"unknown state variable {missing[0]!r} in --init; expected one of: "
                                 f"{', '.join(setup.state_names)}")
    else:
        table = setup.derived.fixed_points_at({s.name: values[s.symbol] for s in setup.model.parameters})
        isolated = [pt for pt in table if pt.line is None]
        if not isolated:
            raise UserInputError(f"{setup.model.name!r} has no isolated fixed point; give --start LABEL "
                                 "(a family) or --init")
        chosen = next((pt for pt in isolated if pt.stability == "attracting"), isolated[0])
        x = np.array([chosen.coordinates[n] for n in setup.state_names], float)
    return x, p, family


def _on_family(setup, x, p, free):
    """The point of the family with the given free coordinates: Newton on the other coordinates."""
    fixed = [setup.state_names.index(n) for n in free]
    others = [i for i in range(len(x)) if i not in fixed]
    for _ in range(30):
        image, A, _ = setup.kern.orbit(x, p, 1)
        residual = (image - x)
        J = (A - np.eye(len(x)))[:, others]
        step = np.linalg.lstsq(J, -residual, rcond=None)[0]
        x = x.copy()
        x[others] += step
        if np.max(np.abs(step)) < 1e-14 * (1 + np.max(np.abs(x))):
            break
    return x


def _normal_form_entry(setup, x, p, A, period, point_type="PD"):
    data = setup.kern.orbit_data(x, p, period, third=True)
    if point_type == "PD":
        b = flip_coefficient(data, A)
        entry = {"coefficient": b, "criticality": flip_criticality(b), "normalisation": NORMALISATION["PD"]}
        if period == 1:
            closed = _closed_form_b(setup, x, p)
            if closed:
                entry["closed_form"] = closed
        return entry
    if point_type == "LP":
        a = fold_coefficient(data, A)
        return {"coefficient": a, "criticality": "nondegenerate" if abs(a) > DEGENERATE else "degenerate",
                "normalisation": NORMALISATION["LP"]}
    if point_type == "NS":
        dval = ns_coefficient(data, A)
        return {"coefficient": dval, "criticality": "degenerate" if not abs(dval) >= DEGENERATE else
                "supercritical" if dval < 0 else "subcritical", "normalisation": NORMALISATION["NS"]}
    return None


def _closed_form_b(setup, x, p):
    """The derived closed-form :math:`b` of the fixed point whose flip this is (matched by the flip value of its
    control parameter and its coordinates), evaluated at the located parameters."""
    from analysis.latex import to_latex

    symbols = setup.compiled.parameter_symbols
    at = dict(zip(symbols, [sp.Float(v, 20) for v in p]))
    for flip in setup.kern.flips:
        try:
            expected = complex(sp.N(flip.value.subs(at)))
            if abs(expected.imag) > 1e-9 or abs(expected.real - at[flip.parameter]) > 1e-7 * (1 + abs(expected)):
                continue
            state = [complex(sp.N(flip.state[s].subs(at))) for s in setup.compiled.state_symbols]
            if max(abs(a - b) for a, b in zip(state, x)) > 1e-6 * (1 + np.max(np.abs(x))):
                continue
            value = float(sp.re(sp.N(flip.coefficient.subs(at))))
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        return {"fixed_point": flip.label, "expression": str(flip.coefficient), "latex": to_latex(flip.coefficient),
                "value": value, "on": f"{flip.parameter} = {flip.value}"}
    return None


def continuation(model, vary, values=None, *, parameterization=None, start=None, init=None, period: int = 1,
                 doublings: int = 0, max_points: int = MAX_POINTS, progress=None, options=None) -> Continuation:
    r"""Pseudo-arclength continuation of fixed points of :math:`F^J` in one parameter (module docstring).

    Parameters
    ----------
    model:
        a name, a model file path or a :class:`~analysis.DerivedModel`.
    vary:
        an :class:`~numerics.axis.Axis` of two values ``P = (A, B)`` (``Axis.parse("P=A:B")``) or
        ``(P, (A, B))``: the branch starts at ``P = A`` and is traced towards ``B`` (and is stopped outside
        ``[min(A, B), max(A, B)]``). For a family (``start`` labels a line of fixed points) ``P`` may be its free
        state variable: the family is traced along itself at fixed parameters.
    start, init:
        a fixed-point label of ``fixed-points``, or ``{state: value}`` corrected by Newton at ``P = A``
        (default: the first attracting isolated fixed point there).
    period:
        J, the period of the orbit (the map is :math:`F^J`).
    doublings:
        at each flip switch to the period-doubled branch, up to this many times (one command traces the cascade).
    values:
        ``{name: value}`` of the other parameters (defaults filled in).

    Examples
    --------
    >>> result = continuation("uv-eos", Axis.parse("k=0.5:1.3"), doublings=2)
    >>> [(s["type"], s["period"], round(s["parameters"]["k"], 10)) for s in result.special_points][:3]
    [('PD', 1, 1.0), ('PD', 2, 1.2360679775), ('PD', 4, 1.2880317545)]
    """
    t0 = time.perf_counter()
    setup = _Setup(model, parameterization, value_mapping(values), options)
    name, low, high = _interval(vary)
    kind = _check_domain(setup.model, name, low, high)
    period = int(period)
    if period < 1:
        raise DomainError("period", period, "a positive integer")
    if not 0 <= int(doublings) <= MAX_DOUBLINGS:
        raise DomainError("doublings", doublings, f"an integer from 0 to {MAX_DOUBLINGS}")
    if kind == "state" and start is None:
        raise UserInputError(f"--vary {name} names a state variable; that continues a family of fixed points "
                             "along itself: give --start LABEL of a line of fixed points")
    bound = setup.bind([name] if kind == "parameter" else [])
    x, p, family = _start(setup, bound, name if kind == "parameter" else None, low, start, init)
    kern = setup.kern
    if kind == "state":
        if family is None or name not in family[1]:
            raise UserInputError(f"--vary {name}: {start!r} is not a family with free coordinate {name}")
        index = setup.state_names.index(name)
        x[index] = low
        system = _OrbitSystem(kern, period, x, p, "state", index)
    else:
        index = setup.parameter_names.index(name)
        held = [setup.state_names.index(f) for f in family[1]] if family else []
        system = _OrbitSystem(kern, period, x, p, "parameter", index, held)
    lo, hi = min(low, high), max(low, high)
    span = hi - lo
    result = Continuation(setup.model.name, [name], [], [])
    queue = [(system, x, p, None, 0, span / 20)]
    names = ("PD", "NS", "LP", "BP")
    while queue:
        system, x, p, switch, level, h_max = queue.pop(0)
        if switch is None:
            u0 = system.pack(x, p)
            first = _correct(system, u0, np.eye(len(u0))[-1], u0)
            if first is None:
                raise UserInputError(f"no fixed point of F^{system.period} near the start "
                                     f"({', '.join(f'{n} = {v:.6g}' for n, v in zip(setup.state_names, x))}, "
                                     f"{name} = {low:g}); try another --start or --init")
            u, J, A, _ = first
            t = _tangent(J)
            direction = np.sign(high - low)
            if t[-1] * direction < 0 or (abs(t[-1]) < 1e-12 and system.family):
                t = -t
            h0 = span / 200
        else:
            u, J, A, t, h0 = switch
        start_point = _make_point(system, u, J, A, t)
        start_point.t = t
        in_range = lambda v: lo - 1e-12 <= v[-1] <= hi + 1e-12  # noqa: E731
        points, specials, why = _trace(system, start_point, min(h0, h_max), in_range, max_points, names, h_max,
                                       progress, BEYOND_FLIP if level else None)
        birth = start_point.u[-1]
        branch = Branch(system.period, family=family[0] if (family and level == 0) else None)
        for pt in points:
            xx, pp = system.unpack(pt.u)
            branch.points.append(setup.point_dict(xx, pp, pt.mu))
        result.branches.append(branch)
        if why and not why.startswith("followed"):
            result.stopped.append(f"period-{system.period} branch: {why}")
        for kind_name, pt in specials:
            xx, pp = system.unpack(pt.u)
            mu = pt.mu
            if not genuine_special(kind_name, pt):
                continue
            entry = {"type": kind_name, "period": system.period, **setup.point_dict(xx, pp, mu)}
            if kind_name in ("PD", "LP", "NS") and not system.family:
                try:
                    entry["normal_form"] = _normal_form_entry(setup, xx, pp, pt.A, system.period, kind_name)
                except np.linalg.LinAlgError:
                    pass
            result.special_points.append(entry)
            if kind_name == "PD" and level < doublings and not system.family:
                # The next branch lives on the parameter scale of this one (shrinking by ~delta per doubling).
                scale = max(abs(pp[index] - birth), 1e-12 * (1 + span))
                switched = _switch(setup.kern, system, xx, pp, pt.A, scale)
                if switched is None:
                    result.stopped.append(f"no period-{2 * system.period} branch found at the flip "
                                          f"{name} = {pp[index]:.12g}")
                else:
                    queue.append((*switched, level + 1, scale / 8))
    result.alpha = _alpha_from_branches(setup, result) if doublings >= 3 else {}
    result.seconds = time.perf_counter() - t0
    return result


def _switch(kern, system, x, p, A, scale):
    """Start of the period-2J branch at a flip of the period-J branch (module docstring), shared with
    :func:`numerics.flips.cascade`; ``kern`` are the model's :class:`~.derivatives.Kernels`. The amplitude ``eps``
    is reduced until the first point's parameter lies within 2% of ``scale`` (the parameter distance over which
    the parent branch lived, about delta times the next one's) of the flip: the parameter moves like
    ``eps^2``, and deep in a cascade a large ``eps`` would start the new branch beyond its own flip."""
    _, q, _ = _eigenvectors(A, -1.0)
    q = np.real(q)
    new = _OrbitSystem(kern, 2 * system.period, x, p, "parameter", system.index)
    size = 1 + np.max(np.abs(x))
    flip = p[system.index]
    for attempt in range(12):
        eps = 1e-2 * size / 4 ** attempt
        u0 = new.pack(x + eps * q, p)
        tq = np.concatenate([q, [0.0]])
        result = _correct(new, u0, tq, u0.copy())
        if result is None:
            continue
        u, J, A2, _ = result
        if np.linalg.norm(u[:-1] - x) < 0.1 * eps:
            continue  # fell back onto the period-J orbit
        if abs(u[-1] - flip) > 0.02 * scale:
            continue
        t = _tangent(J)
        if np.dot(t[:-1], q) < 0:
            t = -t
        return new, *new.unpack(u), (u, J, A2, t, eps)
    return None


# ------------------------------------------------------------------------------------------ Feigenbaum alpha
def _alpha_from_branches(setup, result):
    """Superstable orbits on the period-2^j branches of a 1-D map (multiplier 0: the orbit passes through a
    critical point) located along each branch, and the ratio estimates of alpha (see :mod:`numerics.flips`)."""
    if setup.kern.dimension != 1:
        return {}
    from ..feigenbaum import alpha_estimates

    superstable = []
    for branch in result.branches:
        pts = branch.points
        for a, b in zip(pts, pts[1:]):
            ma, mb = a["multipliers"][0], b["multipliers"][0]
            if isinstance(ma, dict) or isinstance(mb, dict) or ma * mb >= 0:
                continue
            # multiplier 0 between a and b: refine by secant on the branch parameter with Newton on the orbit
            name = result.vary[0]
            index = setup.parameter_names.index(name)
            found = _superstable_on_branch(setup, branch.period, a, b, index)
            if found is not None:
                superstable.append((branch.period, *found))
            break
    superstable.sort()
    if len(superstable) < 3:
        return {}
    estimates = alpha_estimates([d for _, _, d in superstable])
    return {"superstable": [s for _, s, _ in superstable], **estimates}


def _superstable_on_branch(setup, period, a, b, index):
    kern = setup.kern
    names = setup.parameter_names
    pa = np.array([a["parameters"][n] for n in names])
    xa = np.array([a["state"][n] for n in setup.state_names])
    xb = np.array([b["state"][n] for n in setup.state_names])
    pb = np.array([b["parameters"][n] for n in names])

    def solve(alpha, guess):
        p = pa.copy()
        p[index] = alpha
        x = guess.copy()
        for _ in range(30):
            image, A, _ = kern.orbit(x, p, period)
            dx = np.linalg.solve(np.eye(1) - A, image - x)
            x = x + dx
            if abs(dx[0]) < 1e-15:
                break
        return x, A[0, 0]

    lo, hi = pa[index], pb[index]
    xlo, mlo = solve(lo, xa)
    xhi, mhi = solve(hi, xb)
    if mlo * mhi > 0:
        return None
    for _ in range(100):
        mid = hi - mhi * (hi - lo) / (mhi - mlo)
        xm, mm = solve(mid, xlo + (xhi - xlo) * (mid - lo) / (hi - lo))
        if abs(mm) < 1e-14 or abs(hi - lo) < 1e-15:
            break
        if mm * mlo < 0:
            hi, xhi, mhi = mid, xm, mm
        else:
            lo, xlo, mlo = mid, xm, mm
    p = pa.copy()
    p[index] = mid
    orbit = [xm[0]]
    state = xm.copy()
    for _ in range(period - 1):
        state, _, _ = kern.orbit(state, p, 1)
        orbit.append(state[0])
    orbit = np.array(orbit)
    # the orbit point where the one-step derivative vanishes is the critical point
    derivs = [abs(kern.jacobian_py(v, *p)[0]) for v in orbit]
    c = orbit[int(np.argmin(derivs))]
    others = orbit[np.abs(orbit - c) > 0]
    distance = float(np.min(np.abs(others - c))) if len(others) else float("nan")
    return float(mid), distance
