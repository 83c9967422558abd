r"""The Hessian spectrum in the metric of the learning rates, and the sharpness (its top branch)."""
from __future__ import annotations

import sympy as sp

from .. import gram
from ..errors import DerivationError
from .common import EIGENVALUE, MAX_FACTORED_DIMENSION, characteristic_polynomial, sample_points, to_state
from .graph import COORDINATE, GRAM, Context, Equation, node, kind_of
from .results import HessianSpectrum, Sharpness


@node("hessian_spectrum", "Spectrum of the loss Hessian in the metric of the learning rates", ("state_definitions",))
def hessian_spectrum(ctx: Context) -> HessianSpectrum:
    r"""Eigenvalues of :math:`s\nabla^2 L` with multiplicities, in the state variables.

    Gram models (width :math:`n \ge k`): the roots of the characteristic polynomial of the in-span block
    (:func:`analysis.gram.span_hessian`), once each, and the eigenvalues of the complement block
    :math:`s C_L` (:func:`analysis.gram.complement_hessian`), each :math:`n - k` times. Total :math:`nk`.
    """
    spec = ctx.spec
    if kind_of(spec) == COORDINATE and spec.optimizer == "adam":
        return _preconditioned_spectrum(spec)
    if kind_of(spec) == COORDINATE:
        # Over the loss's coordinates: with momentum the state also holds the velocities, which L does not see.
        hessian = spec.lr_scale * sp.hessian(spec.loss, [s.symbol for s in spec.coordinates])
        if hessian.rows > MAX_FACTORED_DIMENSION:
            # Factoring a dense symbolic characteristic polynomial of degree >= 4 can take SymPy hours.
            return HessianSpectrum([], [(None, 1)], hessian,
                                   notes=f"Dimension {hessian.rows} > {MAX_FACTORED_DIMENSION}: no closed form attempted; "
                                         "the spectrum is computed numerically from the compiled Hessian.")
        charpoly = characteristic_polynomial(hessian)
    else:
        hessian = None  # in Gram coordinates only; the in-span block below is what the spectrum needs
        span_block, cholesky = gram.span_hessian(spec)
        charpoly = characteristic_polynomial(span_block)
        charpoly = sp.cancel(sp.expand(charpoly.subs(gram.cholesky_in_gram(spec, cholesky), simultaneous=True)))
        charpoly = to_state(ctx, charpoly, "the Hessian's characteristic polynomial")
    eigenvalues, unresolved = closed_form_roots(charpoly)
    if kind_of(spec) == GRAM:
        complement = gram.complement_hessian(spec)
        for root, multiplicity in complement.eigenvals().items():
            eigenvalues.append((sp.factor(to_state(ctx, root, "a complement eigenvalue")),
                                multiplicity * (spec.width - spec.k)))
        if unresolved:
            raise DerivationError("the in-span Hessian block has no closed-form eigenvalues")
    equations = [Equation(f"hessian-eig-{i}", rf"h_{{{i + 1}}}", e) for i, (e, _) in enumerate(eigenvalues)]
    equations += [Equation(f"hessian-charpoly-{i}", "0", factor) for i, (factor, _) in enumerate(unresolved)]
    notes = "Multiplicities: " + ", ".join(str(m) for _, m in eigenvalues) + "."
    if unresolved:
        notes += (" Irreducible factors of degree >= 3 of the characteristic polynomial (in t) are kept as "
                  "polynomials; their roots are evaluated numerically from the compiled Hessian.")
    return HessianSpectrum(eigenvalues, unresolved, hessian, equations=equations, notes=notes)


def _preconditioned_spectrum(spec) -> HessianSpectrum:
    r"""Adam: the Hessian in the metric of its learning rates, :math:`P^{-1/2}\, s\nabla^2 L\, P^{-1/2}` with
    :math:`P = \operatorname{diag}(\sqrt{v/(1 - \beta_2^t)} + \epsilon)` (the preconditioner of the *last* step,
    ``exp_avg_sq`` after :math:`t` steps; undefined at :math:`t = 0`). Its top eigenvalue is the preconditioned
    sharpness :math:`\lambda_{\max}(P^{-1} H)` of Cohen et al. 2022, computed numerically."""
    beta2, eps = spec.adam
    t = spec.counter.symbol
    scales = [1 / sp.sqrt(sp.sqrt(v.symbol / (1 - beta2 ** t)) + eps) for v in spec.second_moment]
    hessian = spec.lr_scale * sp.hessian(spec.loss, [s.symbol for s in spec.coordinates])
    preconditioned = sp.Matrix(hessian.rows, hessian.cols, lambda i, j: scales[i] * hessian[i, j] * scales[j])
    return HessianSpectrum([], [(None, 1)], preconditioned,
                           notes="adam: the preconditioned Hessian P^(-1/2) s H P^(-1/2), P = diag(sqrt(v/(1 - "
                                 "beta2^t)) + eps) (undefined at t = 0); its spectrum is computed numerically.")


def closed_form_roots(charpoly: sp.Expr):
    """Roots of the irreducible factors of degree <= 2 with multiplicities; the other factors unresolved
    (Cardano's formula for a symbolic cubic is neither readable nor numerically stable)."""
    eigenvalues, unresolved = [], []
    # The numerator only: a denominator free of t (e.g. (a^2 + 1)^(3/2)) has no roots and makes factor_list fail.
    for factor, power in sp.factor_list(sp.numer(sp.together(charpoly)), EIGENVALUE)[1]:
        polynomial = sp.Poly(factor, EIGENVALUE)
        if polynomial.degree() > 2:
            unresolved.append((factor, power))
            continue
        for root, multiplicity in sp.roots(polynomial).items():
            eigenvalues.append((sp.factor(root), multiplicity * power))
    return eigenvalues, unresolved


class PolynomialRoot(sp.Function):
    r"""The root number ``index`` of a polynomial :math:`q(t)` whose coefficients hold parameters: an eigenvalue
    with no readable radical form (an irreducible factor of degree :math:`\ge 3` of a characteristic polynomial).

    It stays symbolic until every parameter is a number; ``evalf`` then computes all roots of :math:`q` with
    mpmath's ``polyroots`` at 15 guard digits above the asked precision and returns the ``index``-th in
    :class:`sympy.CRootOf`'s order (real roots ascending, then complex ones by real part and imaginary part). The
    index of a root may change as parameters move (roots collide), so a list of all ``degree`` roots is what
    stands for the factor, never one root alone. ``polynomial`` is :math:`q`, in :data:`EIGENVALUE`.

    >>> mu = PolynomialRoot(EIGENVALUE**3 - sp.Symbol("c"), 0)
    >>> sp.N(mu.subs("c", 8), 20)
    2.0000000000000000000
    """

    nargs = 2

    @property
    def polynomial(self) -> sp.Expr:
        return self.args[0]

    # t is bound (as in Lambda): the root is a number once the parameters are, which evalf of Abs(mu) asks.
    @property
    def free_symbols(self) -> set:
        return self.args[0].free_symbols - {EIGENVALUE}

    @property
    def is_number(self) -> bool:
        return not self.free_symbols

    def _eval_subs(self, old, new):
        if old == EIGENVALUE:
            return self  # t is bound: substituting it would change the polynomial, not evaluate the root
        return None

    def _eval_evalf(self, prec):
        import mpmath

        polynomial, index = self.args
        if polynomial.free_symbols - {EIGENVALUE} or not index.is_Integer:
            return None
        # A root of multiplicity m is found to about the m-th root of the working precision: work at (degree) x
        # (the asked precision + guard bits), so that even a root of full multiplicity has the asked digits.
        bits = int((prec + 30) * max(1, int(sp.degree(polynomial, EIGENVALUE))))
        coefficients = [sp.sympify(c).evalf(mpmath.libmp.prec_to_dps(bits))._to_mpmath(bits)
                        for c in sp.Poly(polynomial, EIGENVALUE).all_coeffs()]
        while coefficients and coefficients[0] == 0:  # the degree drops at these parameters
            coefficients = coefficients[1:]
        if len(coefficients) - 1 <= int(index):
            return sp.nan  # this root does not exist here (callers report a non-finite eigenvalue)
        with mpmath.workprec(bits):
            try:
                roots = mpmath.polyroots(coefficients, maxsteps=500, extraprec=bits)
            except mpmath.libmp.NoConvergence:  # (a multiple root can stall it) the companion matrix's eigenvalues
                size = len(coefficients) - 1
                companion = mpmath.matrix(size, size)
                for j in range(size):
                    companion[0, j] = -coefficients[j + 1] / coefficients[0]
                    if j + 1 < size:
                        companion[j + 1, j] = 1
                roots = list(mpmath.eig(companion)[0])
            tolerance = mpmath.mpf(2) ** (-prec) * (1 + max(abs(r) for r in roots))
            real = sorted(mpmath.re(r) for r in roots if abs(mpmath.im(r)) <= tolerance)
            complex_ = sorted((r for r in roots if abs(mpmath.im(r)) > tolerance),
                              key=lambda r: (mpmath.re(r), mpmath.im(r)))
            ordered = real + complex_
        return sp.Expr._from_mpmath(mpmath.mpmathify(ordered[int(index)]), prec)

    def _latex(self, printer):
        # q in falling powers of t with factored coefficients, as a paper writes a characteristic polynomial
        body = ""
        for (power,), coefficient in sp.Poly(self.args[0], EIGENVALUE).terms():
            coefficient = sp.factor(coefficient)
            negative = coefficient.could_extract_minus_sign()
            magnitude = -coefficient if negative else coefficient
            text = printer._print(magnitude)
            if magnitude.is_Add and (power or negative):
                text = rf"\left({text}\right)"
            if power:
                text = ("" if magnitude == 1 else text + " ") + printer._print(EIGENVALUE ** power)
            body += (" - " if negative else " + " if body else "") + text
        body = body.lstrip(" ") if not body.startswith(" - ") else "-" + body[3:]
        return rf"\operatorname{{root}}_{{{int(self.args[1]) + 1}}}\left[{body}\right]"


def solve_multiplier(mu, target, symbol) -> list:
    """Values of ``symbol`` where the multiplier ``mu`` equals ``target`` (``-1``: a flip, ``1``: a fold): for a
    :class:`PolynomialRoot` of :math:`q`, where :math:`q(\\mathrm{target}) = 0` (some root of :math:`q` is there)."""
    if isinstance(mu, PolynomialRoot):
        return sp.solve(mu.polynomial.subs(EIGENVALUE, target), symbol)
    return sp.solve(sp.Eq(mu, target), symbol)


@node("sharpness", "Sharpness: top eigenvalue of the Hessian", ("hessian_spectrum", "state_definitions"))
def sharpness(ctx: Context) -> Sharpness:
    r"""The top (largest algebraic) eigenvalue among the branches of :func:`hessian_spectrum`.

    The dominant branch is selected at 24 random realizable points and must win at every one of them
    (branches with multiplicity :math:`n-k` count only where :math:`n > k`); if different branches win at
    different points, the result is their ``Max``. If part of the spectrum has no closed form, the result is
    ``None`` with the Hessian itself, whose top eigenvalue numerics computes.
    """
    spectrum = ctx["hessian_spectrum"]
    if spectrum.unresolved:
        hessian = spectrum.hessian
        return Sharpness(None, hessian,
                         equations=[Equation(f"hessian-{i}{j}", rf"H_{{{i + 1}{j + 1}}}", hessian[i, j])
                                    for i in range(hessian.rows) for j in range(i, hessian.cols)],
                         notes="No closed form: the sharpness is the largest eigenvalue of this Hessian, computed "
                               "numerically (numerics compiles the matrix and calls eigvalsh).")
    branches = spectrum.eigenvalues
    winners = set()
    for point in sample_points(ctx, 24):
        scores = []
        for index, (expr, multiplicity) in enumerate(branches):
            if sp.sympify(multiplicity).subs(point) <= 0:
                continue
            value = sp.N(expr.subs(point), 30)
            if value.is_real is False:
                raise DerivationError(f"Hessian eigenvalue {expr} is complex at {point}")
            scores.append((value, index))
        winners.add(max(scores)[1])
    candidates = [branches[i][0] for i in sorted(winners)]
    top = candidates[0] if len(candidates) == 1 else sp.Max(*candidates)
    return Sharpness(top, equations=[Equation("sharpness", r"S", top)],
                     notes="Branch selected as the largest at 24 random realizable points.")

