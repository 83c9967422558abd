r"""Compile what :mod:`analysis` derived into numerical kernels; no formula is typed here.

One code-generation layer, several backends (as in pydy's ``codegen``):

``numpy``
    ``sympy.lambdify`` of the derived map, Jacobian, sharpness and loss; vectorised by broadcasting, so every
    argument may be an array (e.g. one lane per step size).
``numba``
    generated Python source (common subexpressions eliminated with ``sympy.cse``, printed with ``pycode``),
    compiled by ``numba.njit`` into scalar kernels and a parallel batch kernel for orbit diagrams that iterates
    many parameter lanes at once (SIMD across lanes, threads across blocks of lanes).
``mpmath``
    ``lambdify`` to mpmath, for refinement at 30+ digits.

Argument order of every kernel: the state variables (model order), then the parameters (model order).
"""
from __future__ import annotations

import functools
import hashlib
import linecache
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp
from sympy.printing.pycode import MpmathPrinter


from analysis import DerivedModel, signing
from analysis.atomic import write_atomic
from analysis.cache import cache_dir
from analysis.optimizers import threshold_name

from . import classify, kernel_cache

# numba options of every generated kernel. ``error_model="numpy"``: a float division by zero gives inf/nan (an
# overflow the measures report as divergence) instead of raising, which also removes the branch numba's default
# ("python") model puts before every division, a branch that keeps the lane loops from vectorising.
KERNEL_OPTIONS = "error_model='numpy', cache=CACHE"

def _generated(source: str, name, namespace: dict, label=None):
    """Exec generated source (built only from toolkit-derived expressions, never user text) and register it with
    linecache so that tracebacks and numba can show it."""
    filename = f"<sharpness-generated {label or name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - toolkit-built code only
    return namespace[name] if name is not None else None


def _scalar_source(name: str, arguments, expressions, printer=sp.pycode) -> str:
    """Source of ``def name(*arguments): return (e_1, ..., e_m)`` with common subexpressions shared."""
    replacements, reduced = sp.cse(expressions, symbols=sp.numbered_symbols("_c"), optimizations="basic")
    lines = [f"def {name}({', '.join(arguments)}):"]
    lines += [f"    {printer(s)} = {printer(e)}" for s, e in replacements]
    # Integer results print as floats, so that the returned tuple is homogeneous (numba indexes it at run time).
    lines.append(f"    return ({', '.join(f'{int(e)}.0' if e.is_Integer else printer(e) for e in reduced)},)")
    return "\n".join(lines) + "\n"


@dataclass
class CompiledModel:
    """The derived map of one model in one parameterization, compiled (interface of every measure).

    numba is a hard dependency (``install_requires``): the iteration kernels are numba code generated from the
    derivations; the numpy functions (``*_numpy``) serve vectorised evaluation along trajectories.

    Attributes
    ----------
    state_names, parameter_names:
        argument order of every kernel.
    step_size:
        the GD step as a numpy function of the parameters (the stability threshold is ``2 / step_size``).
    """

    derived: DerivedModel

    def __post_init__(self):
        d = self.derivation = self.derived.derivation
        self.model = d.model
        self.state_symbols = [s.symbol for s in d.model.state]
        self.parameter_symbols = [p.symbol for p in d.model.parameters]
        self.state_names = [s.name for s in d.model.state]
        self.parameter_names = [p.name for p in d.model.parameters]
        self.dimension = len(self.state_symbols)
        mapping = d.result("function_map").images
        self.map_exprs = [mapping[s] for s in self.state_symbols]
        self.jacobian_expr = d.result("jacobian").matrix
        self.sharpness_expr = d.result("sharpness").expression
        self.loss_expr = d.result("loss").expression
        self.step_expr = sp.sympify(d.spec.step)
        arguments = self.state_symbols + self.parameter_symbols
        # [np], not "numpy": the string makes lambdify run `from numpy import *`, which loads numpy.f2py
        # (0.1 s of every process's start-up).
        numpy_fn = functools.partial(sp.lambdify, arguments, modules=[np], cse=True)
        self.step_numpy = numpy_fn(self.map_exprs)
        # A nested list, not a Matrix: lambdify turns a Matrix into np.array([[...]]), which fails on lanes of
        # states when some entries are constants (they do not broadcast inside the array literal).
        self.jacobian_numpy = numpy_fn(self.jacobian_expr.tolist())
        if self.sharpness_expr is not None:
            self.sharpness_numpy = numpy_fn(self.sharpness_expr)
        else:  # no closed form: the top eigenvalue of the compiled Hessian (largest algebraic, not magnitude)
            hessian_matrix = d.result("sharpness").hessian  # over the coordinates (not the velocities)
            hessian_entries = numpy_fn(list(hessian_matrix))  # row-major list

            def top_eigenvalue(*args):
                matrix = np.asarray(np.broadcast_arrays(*[np.asarray(e, dtype=float) for e in hessian_entries(*args)]))
                size = hessian_matrix.rows
                stacked = np.moveaxis(matrix.reshape((size, size) + matrix.shape[1:]), (0, 1), (-2, -1))
                finite = np.isfinite(stacked).all(axis=(-2, -1))
                safe = np.where(finite[..., None, None], stacked, 0.0)
                return np.where(finite, np.linalg.eigvalsh(safe)[..., -1], np.nan)

            self.sharpness_numpy = top_eigenvalue
        self.loss_numpy = numpy_fn(self.loss_expr)
        self.step_size = sp.lambdify(self.parameter_symbols, self.step_expr, [np])
        # The optimizer's derived threshold on the sharpness (2/eta for GD; analysis.optimizers.model_threshold).
        self.threshold_expr = self.derived.threshold
        self.threshold_name = threshold_name(self.threshold_expr)  # "2/eta", "2*(beta + 1)/eta", "threshold"
        self.threshold_size = sp.lambdify(self.parameter_symbols, self.threshold_expr, [np])
        self._argument_names = [f"s{i}" for i in range(self.dimension)] + [f"p{i}" for i in range(len(self.parameter_symbols))]
        self._rename = dict(zip(arguments, sp.symbols(self._argument_names)))
        printer = MpmathPrinter({"fully_qualified_modules": True}).doprint
        self.step_mpmath = self._scalar_function("mp_step", self.map_exprs, printer, {"mpmath": mpmath})
        self.jacobian_mpmath = self._scalar_function("mp_jacobian", self.jacobian_expr, printer, {"mpmath": mpmath})

    def _scalar_function(self, name, expressions, printer=sp.pycode, namespace=None):
        """Python function ``name(s_0.., p_0..) -> tuple`` generated from toolkit-derived ``expressions``."""
        source = _scalar_source(name, self._argument_names, [e.xreplace(self._rename) for e in expressions], printer)
        return _generated(source, name, dict(namespace or {"math": math}))

    # ---------------------------------------------------------------------------------------------- values
    def parameter_vector(self, values: dict) -> np.ndarray:
        """Floats in parameter order from ``{symbol: value}`` (as returned by ``Model.bind_values``)."""
        return np.array([float(values[s]) for s in self.parameter_symbols])

    # ---------------------------------------------------------------------------------------------- numba
    # All numba kernels of the model are generated as one module, written to the cache directory under a name
    # that is the hash of its source and compiled with numba's on-disk cache (``cache=True``): a second process
    # that compiles the same model loads the machine code instead of compiling it again (seconds per kernel).
    @functools.cached_property
    def kernels(self):
        """The module of generated numba kernels (see :func:`load_kernel_module`)."""
        return load_kernel_module(self.kernels_source)

    @functools.cached_property
    def kernels_source(self) -> str:
        """The source of the kernel module (without its header)."""
        return "\n\n".join([
            _FILL_SQUARE_SOURCE,
            _STRETCH_FRAME_SOURCE,
            "@numba.njit(inline='always', " + KERNEL_OPTIONS + ")\n"
            + self._kernel_source("generated_step", self.map_exprs),
            "@numba.njit(inline='always', " + KERNEL_OPTIONS + ")\n"
            + self._kernel_source("generated_jacobian", self.jacobian_expr),
            classify.lane_functions_source().replace("{njit}", "@numba.njit(inline='always', " + KERNEL_OPTIONS + ")"),
            "@numba.njit(inline='always', " + KERNEL_OPTIONS + ")\n" + self._lane_stretch_source(),
            *self._orbit_sources(),
            "@numba.njit(nogil=True, " + KERNEL_OPTIONS + ")\n" + self._trajectory_source(),
            "@numba.njit(nogil=True, " + KERNEL_OPTIONS + ")\n" + self._tangent_source(),
            "@numba.njit(parallel=True, nogil=True, " + KERNEL_OPTIONS + ")\n" + self._stretch_source(),
        ])

    def _kernel_source(self, name, expressions, printer=sp.pycode) -> str:
        return _scalar_source(name, self._argument_names, [e.xreplace(self._rename) for e in expressions], printer)

    @functools.cached_property
    def python_kernels(self):
        """The same kernel module run by CPython instead of numba (``numba.njit`` an identity, ``prange`` =
        ``range``): identical source and arithmetic order, no compilation and no numba import. Small work (below
        :data:`numerics.classify.SMALL_WORK` lane-steps) runs here, since loading numba and its cached machine code costs about half
        a second per process, more than a few thousand steps of the interpreted loop."""
        return load_kernel_module(self.kernels_source, python=True, fallback=lambda: self.kernels)

    def kernels_for(self, work: int):
        """The kernel module to run ``work`` lane-steps with: :attr:`python_kernels` up to
        :data:`numerics.classify.SMALL_WORK`, else the numba-compiled :attr:`kernels`."""
        return self.python_kernels if work <= classify.SMALL_WORK else self.kernels

    @property
    def step_scalar(self):
        """numba scalar kernel ``(s_0..s_{d-1}, p_0..p_{m-1}) -> tuple of new state``."""
        return self.kernels.generated_step

    @property
    def jacobian_scalar(self):
        """numba scalar kernel returning the Jacobian entries row by row as a flat tuple."""
        return self.kernels.generated_jacobian

    @property
    def orbit_kernel(self):
        r"""numba parallel kernel ``(initial (L, d), params (L, m), steps, keep) -> (L, keep, d)``: the last ``keep``
        of ``steps`` states of every lane (one initial state and parameter vector per lane).

        Lanes are processed in blocks of :data:`LANE_BLOCK`: within a block the inner loop runs over lanes (no
        loop-carried dependency, so LLVM vectorises it across lanes), blocks run on threads. A lane that overflows
        keeps ``inf``/``nan``, which the caller reports as diverged."""
        return self.kernels.generated_orbits

    @property
    def classified_orbit_kernel(self):
        r"""numba parallel kernel ``(initial (L, d), params (L, m), steps, keep, kept, tolerance, max_period, batch,
        window, frame) -> (orbits (L, keep, d), code, period, exponent, error)``: :attr:`orbit_kernel` that
        classifies every block of lanes as soon as its last ``kept`` states are computed (while they are in the
        cache), with the classifier's own lane functions (:func:`numerics.classify.lane_period`,
        :func:`~numerics.classify.lane_lyapunov`, :func:`~numerics.classify.decide_outcome`) and the Benettin
        stretch of :attr:`stretch_kernel` over the last ``window`` steps (``batch`` steps per batch, from
        ``frame``); only the last ``keep`` states are written out. :meth:`classified_orbits` calls it."""
        return self.kernels.generated_classified_orbits

    def classified_orbits(self, initial: np.ndarray, params: np.ndarray, steps: int, keep: int, kept: int,
                          kernels=None, along: int | None = None):
        """The last ``keep`` of ``steps`` states of every lane and the classification of its last ``kept`` states,
        ``(orbits, classified)``: ``classified`` is what :func:`numerics.classify.classify_orbits` returns for
        those states with this model's stretch (the same labels, bit for bit), computed inside the orbit kernel's
        pass (:attr:`classified_orbit_kernel`). ``kernels``: the module to run (default by the work,
        :meth:`kernels_for`). ``along``: the index of the only parameter that differs between lanes, if one does
        (an orbit diagram's): then ``params`` is ``(values (L,), the parameter vector (m,))`` and the kernel
        specialised to it runs (:meth:`orbit_kernel_along`)."""
        lanes = len(params[0]) if along is not None else len(params)
        kernels = kernels or self.kernels_for(lanes * steps)
        batch, window = classify.lyapunov_window(kept)
        kernel, arguments = ((kernels.generated_classified_orbits, (params,)) if along is None else
                             (getattr(kernels, f"generated_classified_orbits_along_{along}"), tuple(params)))
        orbits, code, period, exponent, error = kernel(
            initial, *arguments, steps, keep, kept, classify.TOLERANCE, classify.max_period(kept), max(batch, 1),
            window, self.benettin_frame(1))
        return orbits, classify.classification(code, period, exponent, error, window, kept)

    def orbit_kernel_along(self, index: int, classified: bool = False):
        """:attr:`orbit_kernel` (:attr:`classified_orbit_kernel` if ``classified``) for lanes that differ in
        parameter ``index`` only: ``(initial (L, d), values (L,), params (m,), ...)`` in place of ``(initial,
        params (L, m), ...)``. The parameter-only subexpressions that do not involve that parameter are computed
        once, and the others stay scalars in the lane loop: one vector load per lane and step for each, fewer than
        the general kernel's (12-15 % of its time for the UV map)."""
        return getattr(self.kernels, f"generated{'_classified' if classified else ''}_orbits_along_{index}")

    def _orbit_sources(self) -> list:
        """The orbit kernels: general, then along each parameter; each plain and classifying."""
        variants = [None] + list(range(len(self.parameter_symbols)))
        return ["@numba.njit(parallel=True, nogil=True, " + KERNEL_OPTIONS + ")\n"
                + self._orbit_source(classified, along) for along in variants for classified in (False, True)]

    def _orbit_source(self, classified: bool = False, along: int | None = None) -> str:
        d, m = self.dimension, len(self.parameter_symbols)
        state = [f"s{i}" for i in range(d)]
        constants, updates, results = self._lane_split()
        # What differs between lanes: every parameter, or parameter `along` and the constants that involve it.
        varying = {f"p{j}" for j in range(m)} if along is None else {f"p{along}"}
        for name, expression in constants:
            if {str(symbol) for symbol in expression.free_symbols} & varying:
                varying.add(str(name))
        constants = [(str(name), sp.pycode(e)) for name, e in constants]
        updates = [(str(name), sp.pycode(e)) for name, e in updates]
        results = [sp.pycode(e) for e in results]
        per_lane = [name for name in [f"p{j}" for j in range(m)] + [n for n, _ in constants] if name in varying]
        suffix = "" if along is None else f"_along_{along}"
        lane_params = "params" if along is None else "values, params"
        if classified:
            src = [f"def generated_classified_orbits{suffix}(initial, {lane_params}, steps, keep, kept, tolerance, "
                   "max_period, batch, window, frame):"]
            recorded = "kept"
        else:
            src = [f"def generated_orbits{suffix}(initial, {lane_params}, steps, keep):"]
            recorded = "keep"
        src += ["    lanes = initial.shape[0]", f"    out = np.empty((lanes, keep, {d}))"]
        if classified:
            src += ["    code = np.empty(lanes, np.int64)",  # every entry is written below (np.empty: no fill pass)
                    "    period = np.empty(lanes, np.int64)",
                    "    exponent = np.empty(lanes)",
                    "    error = np.empty(lanes)",
                    "    columns = frame.shape[1]",
                    "    batches = window // batch"]
        if along is not None:  # the lane-independent values, once
            src += [f"    p{j} = params[{j}]" for j in range(m) if j != along]
        src += [f"    {name} = {expression}" for name, expression in constants if name not in varying]
        src += [
            f"    block = {LANE_BLOCK}",
            "    blocks = (lanes + block - 1) // block",
            "    for b in numba.prange(blocks):",
            "        lo = b * block",
            "        hi = min(lo + block, lanes)",
            "        width = hi - lo",
        ]
        # Padded to a whole block (the pad lanes repeat the last lane and are never written out): a constant trip
        # count lets LLVM vectorise the lane loop without a scalar remainder.
        src += [f"        {s} = np.empty(block)" for s in state]
        src += [f"        lane_{name} = np.empty(block)" for name in per_lane]
        src += ["        for j in range(block):", "            lane = lo + min(j, width - 1)"]
        src += [f"            {s}[j] = initial[lane, {i}]" for i, s in enumerate(state)]
        if along is None:
            src += [f"            p{j} = params[lane, {j}]" for j in range(m)]
        else:
            src += [f"            p{along} = values[lane]"]
        src += [f"            {name} = {expression}" for name, expression in constants if name in varying]
        src += [f"            lane_{name}[j] = {name}" for name in per_lane]
        step = ["            for j in range(block):"]
        step += [f"                x{i} = {s}[j]" for i, s in enumerate(state)]
        step += [f"                {name} = lane_{name}[j]" for name in per_lane]
        step += [f"                {name} = {expression}" for name, expression in updates]
        step += [f"                {s}[j] = {results[i]}" for i, s in enumerate(state)]
        src += [f"        for t in range(steps - {recorded}):"] + step
        if not classified:
            src += ["        for record in range(keep):"] + step
            src += ["            for j in range(width):"]
            src += [f"                out[lo + j, record, {i}] = {s}[j]" for i, s in enumerate(state)]
            src.append("    return out")
            return "\n".join(src) + "\n"
        # The block's last `kept` states, lanes innermost (contiguous stores from the lane loop), read as (lane,
        # step, coordinate) through a transposed view; classified lane by lane while in the cache. Across the lanes
        # while they are recorded (vectorised): the scale of the period test (the maximum that
        # numerics.classify.lane_scale takes lane by lane) and x - x summed, 0 exactly where all states are finite.
        src += [f"        tail = np.empty((kept, {d}, block))",
                "        scale = np.zeros(block)",
                "        unbounded = np.zeros(block)"]
        src += ["        for record in range(kept):"] + step
        src += ["            for j in range(block):"]
        for i, s in enumerate(state):
            src += [f"                tail[record, {i}, j] = {s}[j]",
                    f"                scale[j] = max(scale[j], abs({s}[j]))",
                    f"                unbounded[j] += {s}[j] - {s}[j]"]
        src += [
            "        states = tail.transpose((2, 0, 1))",
            f"        jac = np.empty(({d}, {d}))",
            f"        q = np.empty(({d}, columns))",
            f"        grown = np.empty(({d}, columns))",
            "        log = np.empty(columns)",
            "        sums = np.empty((batches, columns))",
        ]
        if along is not None:  # the parameter vector of one lane, for the Jacobian of the stretch
            src += [f"        row = np.empty((1, {m}))", "        row[0, :] = params"]
        src += [
            "        for j in range(width):",
            "            lane = lo + j",
            "            finite = unbounded[j] == 0.0",
            "            repeat = lane_period(states, j, period_bound(scale[j], tolerance), max_period) if finite else 0",
            "            measured = finite and repeat == 0 and window > 0",
            "            estimate = np.nan",
            "            spread = np.nan",
            "            if measured:",
        ]
        if along is None:
            src += ["                lane_stretch(states, j, params, lane, kept - 1 - window, batch, frame, sums, jac, q,"
                    " grown, log)"]
        else:
            src += [f"                row[0, {along}] = values[lane]",
                    "                lane_stretch(states, j, row, 0, kept - 1 - window, batch, frame, sums, jac, q, "
                    "grown, log)"]
        src += [
            "                estimate, spread = lane_lyapunov(sums[:, 0], batch)",
            "            code[lane] = decide_outcome(finite, repeat, measured, estimate, spread)",
            "            period[lane] = repeat",
            "            exponent[lane] = estimate",
            "            error[lane] = spread",
            "            for r in range(keep):",
            f"                for i in range({d}):",
            "                    out[lane, r, i] = states[j, kept - keep + r, i]",
            "    return out, code, period, exponent, error",
        ]
        return "\n".join(src) + "\n"

    def _lane_split(self):
        r"""The map :math:`s \mapsto F(s; p)` as code for the orbit kernel, split by what it depends on:
        ``(constants, updates, results)``. ``constants`` are ``(name, code in p0..)``: the subexpressions that depend
        on the parameters only (the ``1/n`` and ``x^2 \eta^2`` of the UV map), computed once per lane;
        ``updates`` are the common subexpressions of one step, in the state ``x0..``, the parameters and the
        constants; ``results`` the new state. Parameter-only factors of a product (terms of a sum) are hoisted
        too, so a step costs only the flops that depend on the state; the arithmetic is otherwise unchanged
        (products are reassociated, which moves results by rounding only)."""
        states = sp.symbols([f"x{i}" for i in range(self.dimension)])
        params = sp.symbols([f"p{j}" for j in range(len(self.parameter_symbols))])
        rename = dict(zip(self.state_symbols + self.parameter_symbols, list(states) + list(params)))
        replacements, reduced = sp.cse([e.xreplace(rename) for e in self.map_exprs],
                                       symbols=sp.numbered_symbols("_c"), optimizations="basic")
        fixed_names = set(params)
        constants = {}  # expression -> name, in order of creation

        def is_fixed(expression):
            return expression.free_symbols <= fixed_names

        def constant(expression):
            if expression not in constants:
                constants[expression] = sp.Symbol(f"k{len(constants)}")
                fixed_names.add(constants[expression])
            return constants[expression]

        def hoist(expression):
            if is_fixed(expression) or not expression.args:
                return expression
            args = [hoist(a) for a in expression.args]
            if isinstance(expression, (sp.Add, sp.Mul)):
                fixed = [a for a in args if is_fixed(a) and not a.is_Number]
                if len(fixed) >= 2 or (fixed and not fixed[0].is_Symbol):
                    rest = [a for a in args if not (is_fixed(a) and not a.is_Number)]
                    return expression.func(constant(expression.func(*fixed)), *rest)
            return expression.func(*args)

        updates = []
        for name, expression in replacements:
            if is_fixed(expression):
                constants[expression] = name
                fixed_names.add(name)
            else:
                updates.append((name, hoist(expression)))
        results = [hoist(e) for e in reduced]
        return [(name, expression) for expression, name in constants.items()], updates, results

    def step_flops(self) -> int:
        """Floating-point operations of one step of the orbit kernel per lane (those that depend on the state,
        after the per-lane constants are hoisted), as ``sympy.count_ops`` counts them (an integer power 1): the
        numerator of the kernel's fraction of the machine's peak in ``benchmarks/bench_orbit.py``."""
        _, updates, results = self._lane_split()
        return int(sum(sp.count_ops(e) for _, e in updates) + sum(sp.count_ops(e) for e in results))

    @property
    def trajectory_kernel(self):
        """numba kernel ``(initial (d,), params (m,), steps, every, tail) -> (thinned, tail_states, diverged_at)``.

        ``thinned`` holds every ``every``-th state (row 0 the initial one), ``tail_states`` the last ``tail`` states
        at every step (oldest first, for period and convergence detection); the run stops at the first
        non-finite state, whose step is ``diverged_at`` (-1 if none)."""
        return self.kernels.generated_trajectory

    def _trajectory_source(self) -> str:
        d, m = self.dimension, len(self.parameter_symbols)
        state = ", ".join(f"s{i}" for i in range(d))
        params = ", ".join(f"p[{j}]" for j in range(m))
        src = [
            "def generated_trajectory(initial, p, steps, every, tail):",
            f"    out = np.full((steps // every + 1, {d}), np.nan)",
            f"    ring = np.full((tail, {d}), np.nan)",
            f"    {state}, = " + ", ".join(f"initial[{i}]" for i in range(d)) + ",",
            "    out[0, :] = initial",
            "    ring[0, :] = initial",
            "    diverged_at = -1",
            "    last = 0",
            "    for t in range(1, steps + 1):",
            f"        {state}, = generated_step({state}, {params})",
            "        if not (" + " and ".join(f"math.isfinite(s{i})" for i in range(d)) + "):",
            "            diverged_at = t",
            "            break",
            "        last = t",
        ]
        src += [f"        ring[t % tail, {i}] = s{i}" for i in range(d)]
        src.append("        if t % every == 0:")
        src += [f"            out[t // every, {i}] = s{i}" for i in range(d)]
        src += [
            "    count = min(last + 1, tail)",
            f"    ordered = np.empty((count, {d}))",
            "    for i in range(count):",
            "        ordered[i, :] = ring[(last - count + 1 + i) % tail, :]",
            "    return out, ordered, diverged_at",
        ]
        return "\n".join(src) + "\n"

    @property
    def tangent_frame_kernel(self):
        r"""numba kernel for Benettin's method: ``(initial, params, transient, steps, frame) -> (logs, state,
        diverged, frame)``.

        After ``transient`` steps it propagates the orthonormal frame :math:`Q` (``frame`` in, the final frame out,
        so that a long run can be computed in chunks) with the compiled Jacobian and re-orthonormalises by
        modified Gram-Schmidt each step (the QR of :math:`J Q`); ``logs[t, i]`` is :math:`\log R_{ii}` at step
        ``t``. ``diverged`` is the first step (counted from the start, transient included) with a non-finite
        state, or -1."""
        return self.kernels.generated_tangent

    def _tangent_source(self) -> str:
        d, m = self.dimension, len(self.parameter_symbols)
        state = ", ".join(f"s{i}" for i in range(d))
        params = ", ".join(f"p[{j}]" for j in range(m))
        finite = " and ".join(f"math.isfinite(s{i})" for i in range(d))
        return f"""def generated_tangent(initial, p, transient, steps, frame):
    d = {d}
    {state}, = {', '.join(f'initial[{i}]' for i in range(d))},
    q = frame.copy()
    columns = q.shape[1]
    for t in range(transient):
        {state}, = generated_step({state}, {params})
        if not ({finite}):
            return np.zeros((steps, columns)), np.array([{state}]), t + 1, q
    logs = np.zeros((steps, columns))
    jac = np.empty((d, d))
    grown = np.empty((d, columns))
    for t in range(steps):
        fill_square(jac, generated_jacobian({state}, {params}))
        {state}, = generated_step({state}, {params})
        if not ({finite}):
            return logs, np.array([{state}]), transient + t + 1, q
        stretch_frame(jac, q, grown, logs[t])
    return logs, np.array([{state}]), -1, q
"""

    def tangent_kernel(self, initial, params, transient: int, steps: int):
        """:attr:`tangent_frame_kernel` from the identity frame: ``(logs, state, diverged)``."""
        logs, state, diverged, _ = self.tangent_frame_kernel(initial, params, transient, steps,
                                                             np.eye(self.dimension))
        return logs, state, diverged

    def stretch_sums(self, orbits: np.ndarray, params: np.ndarray, batch: int = 1, columns: int = 1) -> np.ndarray:
        r"""Sums of :math:`\log R_{ii}` over consecutive batches of ``batch`` steps along the stored states of
        every lane (:attr:`stretch_kernel`), for a frame of ``columns`` tangent vectors
        (:meth:`benettin_frame`; column 0 is the largest exponent's): ``(lanes, (T - 1) // batch, columns)`` for
        ``orbits`` (lanes, T, d) and ``params`` (lanes, m). Interpreted for small work, compiled otherwise (a
        Jacobian-vector product per stored state costs a few map steps)."""
        work = 4 * orbits.shape[0] * orbits.shape[1] * self.dimension * columns
        return self.kernels_for(work).generated_stretch(np.ascontiguousarray(orbits, dtype=float),
                                                        np.ascontiguousarray(params, dtype=float), int(batch),
                                                        self.benettin_frame(columns))

    def benettin_frame(self, columns: int = 1) -> np.ndarray:
        r"""The orthonormal frame of ``columns`` tangent vectors that every Benettin stretch starts from: the QR of
        :math:`((1, \dots, 1), e_2, \dots)`, column 0 :math:`+(1, \dots, 1)/\sqrt d` (built once per model;
        read-only)."""
        frames = self.__dict__.setdefault("_frames", {})
        if columns not in frames:
            d = self.dimension
            frame, _ = np.linalg.qr(np.column_stack([np.ones(d), np.eye(d)[:, 1:]])[:, :columns])
            frame = np.ascontiguousarray(frame * np.sign(frame[0, 0]))  # column 0 is +(1, ..., 1)/sqrt(d)
            frame.flags.writeable = False
            frames[columns] = frame
        return frames[columns]

    @property
    def stretch_kernel(self):
        r"""numba parallel kernel ``(orbits (L, T, d), params (L, m), batch, frame (d, k)) -> (L, (T - 1) // batch,
        k)``: Benettin's method (the same ``stretch_frame`` QR step as :attr:`tangent_frame_kernel`) along the
        *stored* states of every lane, from the orthonormal ``frame``; entry ``[lane, b, i]`` is
        :math:`\sum_t \log R_{ii}(t)` over the steps of batch ``b`` (remainder steps dropped). Lanes run in blocks
        of :data:`LANE_BLOCK` on threads: an orbit diagram classifies up to a million lanes."""
        return self.kernels.generated_stretch

    def _lane_stretch_source(self) -> str:
        """``lane_stretch``: the batch sums of one lane (row ``row`` of ``orbits``, parameters row ``lane`` of
        ``params``) from state ``first`` on, into ``sums`` (batches, k); shared by the stretch kernel and the
        classifying orbit kernel."""
        d, m = self.dimension, len(self.parameter_symbols)
        state = ", ".join(f"orbits[row, t, {i}]" for i in range(d))
        params = ", ".join(f"params[lane, {j}]" for j in range(m))
        return f"""def lane_stretch(orbits, row, params, lane, first, batch, frame, sums, jac, q, grown, log):
    batches, columns = sums.shape
    q[:, :] = frame
    sums[:, :] = 0.0
    for index in range(batches):
        for t in range(first + index * batch, first + (index + 1) * batch):
            fill_square(jac, generated_jacobian({state}, {params}))
            stretch_frame(jac, q, grown, log)
            for i in range(columns):
                sums[index, i] += log[i]
"""

    def _stretch_source(self) -> str:
        return f"""def generated_stretch(orbits, params, batch, frame):
    lanes, count, d = orbits.shape
    columns = frame.shape[1]
    batches = (count - 1) // batch
    out = np.empty((lanes, batches, columns))  # lane_stretch zeroes each lane's rows
    block = {LANE_BLOCK}
    for b in numba.prange((lanes + block - 1) // block):
        jac = np.empty((d, d))
        q = np.empty((d, columns))
        grown = np.empty((d, columns))
        log = np.empty(columns)
        for lane in range(b * block, min(lanes, (b + 1) * block)):
            lane_stretch(orbits, lane, params, lane, 0, batch, frame, out[lane], jac, q, grown, log)
    return out
"""


# Lanes per block of the orbit kernel: 64 float64 lanes fill the AVX2 registers many times over (ILP across the
# independent lanes hides the latency of the map's dependency chain) and still fit in L1 for a 2-D state.
LANE_BLOCK = 64

_FILL_SQUARE_SOURCE = f'''@numba.njit(inline='always', {KERNEL_OPTIONS})
def fill_square(matrix, flat):
    """``matrix[a, b] = flat[a d + b]`` (the scalar Jacobian kernels return row-major tuples)."""
    d = matrix.shape[0]
    for a in range(d):
        for b in range(d):
            matrix[a, b] = flat[a * d + b]
'''

_STRETCH_FRAME_SOURCE = f'''@numba.njit(inline='always', {KERNEL_OPTIONS})
def stretch_frame(jac, q, grown, logs):
    """One step of Benettin's method: ``grown = jac @ q``, orthonormalised by modified Gram-Schmidt (the QR of
    J Q) into ``q``; ``logs[i] = log R_ii`` (-inf, and a zero column from then on, where it vanishes)."""
    d = jac.shape[0]
    columns = q.shape[1]
    for i in range(columns):
        for a in range(d):
            total = 0.0
            for c in range(d):
                total += jac[a, c] * q[c, i]
            grown[a, i] = total
    for i in range(columns):
        for j in range(i):
            proj = 0.0
            for a in range(d):
                proj += q[a, j] * grown[a, i]
            for a in range(d):
                grown[a, i] -= proj * q[a, j]
        norm = 0.0
        for a in range(d):
            norm += grown[a, i] * grown[a, i]
        norm = math.sqrt(norm)
        logs[i] = math.log(norm) if norm > 0 else -math.inf
        for a in range(d):
            q[a, i] = grown[a, i] / norm if norm > 0 else 0.0
'''

_MODULE_HEADER = '''"""numba kernels generated by sharpness-dynamics (numerics/compile.py) from derived expressions; do not edit:
the file name is the hash of this text, and the project regenerates it when the derivation changes."""
import math

import numba
import numpy as np

# numba's own disk cache stays off: numerics/kernel_cache.py attaches one whose files are signed.
CACHE = False
'''


def kernel_directory() -> Path:
    """Where generated kernel modules and numba's cache of their machine code live: ``CACHE_DIR/kernels``."""
    return cache_dir() / "kernels"


class _Interpreted:
    """Stands in for ``numba`` when the kernel source runs in CPython.

    The kernels' arguments are numpy arrays, so their arithmetic is on ``numpy.float64`` and follows numba's
    ``error_model="numpy"`` (overflow to inf, 0/0 to nan; the warnings are silenced, the measures report
    divergence). Where a Python float still meets a division by zero or an overflowing power (CPython raises), the
    call is redone by the compiled kernel ``fallback().NAME``, so both paths give the same outcome."""

    prange = range

    def __init__(self, fallback):
        self.fallback = fallback

    def njit(self, *args, **options):
        def decorate(function):
            if options.get("inline") == "always":  # called only from inside the kernels below
                return function

            @functools.wraps(function)
            def kernel(*arguments):
                try:
                    with np.errstate(all="ignore"):
                        return function(*arguments)
                except (ZeroDivisionError, OverflowError):
                    return getattr(self.fallback(), function.__name__)(*arguments)

            return kernel

        return decorate(args[0]) if args and callable(args[0]) else decorate


def load_kernel_module(body: str, python: bool = False, fallback=None):
    """The module of generated kernels ``body`` (source built from toolkit-derived expressions only).

    Written to :func:`kernel_directory` as ``sharpness_kernels_<sha256 of the text>.py`` (never rewritten when
    the file already holds exactly that text, since numba stamps its cache with the file) and run from the text
    in memory, not imported from the file: a file planted or changed there is never executed (it is overwritten),
    and no ``.pyc`` is written or read. numba keeps the machine code beside it in signed cache files
    (:mod:`numerics.kernel_cache`). Where the directory cannot be written, or the user's cache secret is not
    stored, the kernels are compiled in memory only: correct, only slower to start."""
    text = _MODULE_HEADER + "\n\n" + body
    name = "sharpness_kernels_" + hashlib.sha256(text.encode()).hexdigest()[:32]
    if python:
        module = type(sys)(name + "_python")
        module.__dict__.update({"numba": _Interpreted(fallback), "np": np, "math": math, "CACHE": False})
        _generated(body, None, module.__dict__, label=name + " (interpreted)")
        return module
    if name in sys.modules:
        return sys.modules[name]
    module = type(sys)(name)
    try:
        path = _kernel_file(name, text)
    except OSError:
        _generated(text, None, module.__dict__, label=name)
    else:
        module.__file__ = str(path)
        exec(compile(text, str(path), "exec"), module.__dict__)  # noqa: S102 - the toolkit's text, not the file's
        kernel_cache.attach(module.__dict__)
    sys.modules[name] = module
    return module


def _kernel_file(name: str, text: str) -> Path:
    """The path of the kernel module file holding exactly ``text`` (written atomically unless it already does;
    whatever else is there, a link, a FIFO or another text, is replaced unread)."""
    directory = kernel_directory()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    expected = text.encode()
    try:
        current = signing.read_entry(path, len(expected))
    except (FileNotFoundError, signing.UntrustedEntry):
        current = None
    if current != expected:
        write_atomic(path, expected, private=True)
    return path


_COMPILED: dict = {}


def compile_model(model, parameterization: str | None = None, **options) -> CompiledModel:
    """The compiled model, cached per process by the derivation's cache key (which covers everything that
    defines the model). ``model`` is a :class:`~analysis.DerivedModel`, a name, a path or a
    :class:`~analysis.Model`; ``options`` select a variant (``product``'s ``loss``/``depth``)."""
    derived = model if isinstance(model, DerivedModel) else DerivedModel(model, parameterization, **options)
    key = derived.derivation.cache_key
    if key not in _COMPILED:
        _COMPILED[key] = CompiledModel(derived)
    return _COMPILED[key]
