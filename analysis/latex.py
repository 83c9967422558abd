r"""LaTeX export of derived results, printed as a paper prints them, and a standalone ``amsmath`` document.

What the printer does (:class:`PaperPrinter`):

* **Implicit multiplication**: ``\eta^{2} x^{2} f`` rather than ``\eta^{2} \cdot f \cdot x^{2}``. A parenthesised
  factor is printed as a brace group, ``\eta \lambda {\left(y - f\right)}``: it typesets as ``\eta\lambda(y - f)``
  and, unlike a bare ``\lambda \left(...\right)``, ``parse_latex`` reads it as a product, not a function call.
* **Order of factors**: numbers, then symbols in the model's order (parameters, the step ``\eta`` first, then
  state variables; ``symbol_order``), then radicals and functions, then parenthesised sums.
* **Order of terms**: a sum starts with a positive term (``y - f``, not ``- f + y``); a sum holding powers of the
  step up to ``\eta^{2}`` or beyond is written as a series in it (``f + \eta ... + \eta^{2} ...``).
* **Fractions**: simple numerator factors over the denominator, the parenthesised ones after it
  (``\frac{\eta^{2} x^{2} f}{n} {\left(y - f\right)}^{2}``).

Before printing, :func:`readable` looks for a shorter equal form of each expression (factored, collected in a
symbol with factored coefficients, a fraction split over its numerator's terms; radicands likewise) and keeps
the shortest whose difference from the original SymPy proves zero. Correctness is then checked end to end: every
exported right-hand side round-trips through ``sympy.parsing.latex.parse_latex`` (ANTLR backend,
``antlr4-python3-runtime==4.11``) back to an expression equal to the derived one (:func:`round_trips`, tested
for every equation of every model). Multi-letter names are printed as the single LaTeX token their model
declares (``StateVariable(..., latex=...)``, e.g. ``lam`` as ``\lambda`` in :mod:`analysis.uv`).

Text (notes, captions) goes through :func:`prose`: spans that are mathematics (``|mu| < 1``, ``Delta S /
epsilon^2``, ``z = +-1``) are set in math mode, the rest is escaped so that pdflatex prints it as written.
"""
from __future__ import annotations

import functools
import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

# Symbols whose name would print as a product of letters -> a single LaTeX token. Filled by the model
# descriptions (Parameter/StateVariable ``latex``), never typed here.
SYMBOL_NAMES: dict = {}


def declare(symbol, tex: str) -> None:
    """Print ``symbol`` as ``tex`` (called by :class:`analysis.model.Model` for each declared name)."""
    SYMBOL_NAMES[symbol] = tex


PRINTER_SETTINGS = {"fold_short_frac": False, "fold_frac_powers": True, "root_notation": True,
                    "ln_notation": False}
STEP_NAMES = ("eta",)  # a symbol of this name is the step when no model order is given
MAX_REWRITE_OPS = 250  # larger expressions are printed as derived (factoring them can take SymPy minutes)


def _symbol_names(expr) -> dict:
    return {s: SYMBOL_NAMES[s] for s in getattr(expr, "free_symbols", ()) if s in SYMBOL_NAMES}


def symbol_latex(symbol) -> str:
    return SYMBOL_NAMES.get(symbol, sp.latex(symbol))


def name_latex(name: str) -> str:
    """LaTeX of a parameter or state variable known by its name only (a figure's axis): the declared form of a
    loaded model's symbol of that name (``lam`` -> ``\\lambda``, ``lam_vv`` -> ``\\ddot{\\lambda}``), else SymPy's
    (``eta`` -> ``\\eta``, ``w1`` -> ``w_{1}``)."""
    declared = next((tex for symbol, tex in SYMBOL_NAMES.items() if symbol.name == name), None)
    return declared if declared is not None else sp.latex(sp.Symbol(name))


def symbol_order(model) -> tuple:
    """The order in which a paper writes ``model``'s symbols in a product: the step first, the other parameters
    alphabetically, then the state variables as declared (``model`` is an :class:`analysis.model.Model`)."""
    parameters = [p.symbol for p in getattr(model, "parameters", ())]
    step = getattr(getattr(model, "spec", None), "step", None)
    if step is None:
        step = next((p for p in parameters if p.name in STEP_NAMES), None)
    others = sorted((p for p in parameters if p != step), key=lambda p: p.name)
    parameters = ([step] if isinstance(step, sp.Symbol) and step in parameters else []) + others
    return tuple(parameters) + tuple(s.symbol for s in getattr(model, "state", ()))


def _exponent_of(term, symbol) -> int:
    if symbol is None:
        return 0
    exponent = term.as_coeff_exponent(symbol)[1]
    return int(exponent) if exponent.is_Integer else 0


def _is_negative_term(term) -> bool:
    coefficient = term.as_coeff_Mul()[0]
    return bool(coefficient.is_negative)


class PaperPrinter(LatexPrinter):
    r"""SymPy's LaTeX printer as a paper prints (module docstring), and ``Abs`` as ``|x|``: the ANTLR parser rejects
    ``\left|{x}\right|`` and after a product even drops it silently (``x \cdot \left|{y}\right|`` parses as ``x``)."""

    _default_settings = {**LatexPrinter._default_settings, "symbol_order": (), "step": None}

    def _rank(self, symbol) -> tuple:
        order = self._settings["symbol_order"]
        if symbol in order:
            return (0, order.index(symbol), "")
        if symbol.name in STEP_NAMES:
            return (0, -1, "")
        return (1, 0, symbol.name)

    def _step(self, expr):
        step = self._settings["step"]
        if step is not None:
            return step
        order = self._settings["symbol_order"]
        if order and order[0].name in STEP_NAMES:
            return order[0]
        return next((s for s in expr.free_symbols if s.name in STEP_NAMES), None)

    # -- products -------------------------------------------------------------------------------------------

    def _factor_key(self, factor) -> tuple:
        if factor.is_Number:
            return (0, (0, 0, ""), 0)
        base, exponent = factor.as_base_exp()
        if base.is_Symbol and exponent.is_Number:
            return (1, self._rank(base), 0)
        if base.is_Atom or (factor.is_Pow and not base.is_Add and not base.is_Pow and base.is_Mul is False):
            return (2, (0, 0, ""), len(self._print(factor)))
        return (3, (0, 0, ""), len(self._print(factor)))

    def _is_simple(self, factor) -> bool:
        return self._factor_key(factor)[0] <= 2 and not factor.is_Add

    def _factor(self, factor) -> str:
        if factor.is_Add or (factor.is_Mul and _is_negative_term(factor)):
            return self._add_parens(self._print(factor))
        return self._print(factor)

    def _product(self, factors, alone: bool = False) -> str:
        """The factors in a paper's order; ``alone``: a lone sum needs no parentheses (a denominator)."""
        factors = sorted(factors, key=self._factor_key)
        if alone and len(factors) == 1 and factors[0].is_Add:
            return self._print(factors[0])
        return " ".join(self._factor(f) for f in factors)

    def _print_Mul(self, expr):
        coefficient, rest = expr.as_coeff_Mul()
        sign = ""
        if coefficient.is_negative:
            sign, coefficient = "- ", -coefficient
        numerator, denominator = [], []
        for factor in sp.Mul.make_args(rest):
            base, exponent = factor.as_base_exp()
            if exponent.is_Number and exponent.is_negative:
                denominator.append(sp.Pow(base, -exponent))
            else:
                numerator.append(factor)
        if coefficient.is_Rational:
            if coefficient.p != 1:
                numerator.append(sp.Integer(coefficient.p))
            if coefficient.q != 1:
                denominator.append(sp.Integer(coefficient.q))
        elif coefficient != 1:
            numerator.append(coefficient)
        if not denominator:
            if not numerator:
                return sign + "1"
            return sign + self._product(numerator)
        simple = [f for f in numerator if self._is_simple(f)]
        compound = [f for f in numerator if not self._is_simple(f)]
        below = self._product(denominator, alone=True)
        if simple and compound:
            return sign + rf"\frac{{{self._product(simple)}}}{{{below}}} " + self._product(compound)
        if len(compound) == 1:
            inner = compound[0]
            top = self._print(inner) if inner.is_Add else self._factor(inner)
            return sign + rf"\frac{{{top}}}{{{below}}}"
        return sign + rf"\frac{{{self._product(numerator) if numerator else '1'}}}{{{below}}}"

    def _print_Pow(self, expr, exp=None):
        if expr.exp.is_Number and expr.exp.is_negative and not (expr.exp.is_Rational and abs(expr.exp.p) == 1
                                                                   and expr.exp.q != 1):
            return self._print_Mul(sp.Mul(expr, evaluate=False))
        return super()._print_Pow(expr)

    def _add_parens(self, s) -> str:
        # A brace group: the same typesetting, and parse_latex reads "x {(...)}" as a product, not x applied.
        return r"{\left(%s\right)}" % s

    # -- sums -----------------------------------------------------------------------------------------------

    def _ordered_terms(self, expr) -> list:
        terms = list(expr.as_ordered_terms())
        step = self._step(expr)
        exponents = [_exponent_of(t, step) for t in terms]
        if max(exponents, default=0) >= 2:  # a series in the step: lowest power first
            terms = [t for _, t in sorted(zip(exponents, terms), key=lambda pair: pair[0])]
        if _is_negative_term(terms[0]):
            first = next((i for i, t in enumerate(terms) if not _is_negative_term(t)), None)
            if first is not None:
                terms.insert(0, terms.pop(first))
        return terms

    def _print_Add(self, expr, order=None):
        tex = ""
        for i, term in enumerate(self._ordered_terms(expr)):
            if i == 0:
                tex += self._print(term)
                continue
            if _is_negative_term(term):
                tex += " - "
                term = -term
            else:
                tex += " + "
            text = self._print(term)
            tex += self._add_parens(text) if term.is_Add else text
        return tex

    def _print_Abs(self, expr, exp=None):
        tex = f"|{self._print(expr.args[0])}|"
        return f"{tex}^{{{exp}}}" if exp is not None else tex


# Kept for callers of the earlier name.
RoundTripPrinter = PaperPrinter


def _printer(expr, order=()) -> PaperPrinter:
    return PaperPrinter({"symbol_names": _symbol_names(expr), "symbol_order": tuple(order), **PRINTER_SETTINGS})


def _equal(a, b) -> bool:
    if a == b:
        return True
    try:
        return sp.expand(sp.together(a - b)) == 0
    except Exception:  # noqa: BLE001 -- not proved equal: the candidate is not used
        return False


def _candidates(expr, step):
    if isinstance(step, sp.Symbol) and step in expr.free_symbols:
        collected = sp.collect(sp.expand(expr), step, evaluate=False)
        yield sp.Add(*[(-p) * sp.factor(-c) if c.could_extract_minus_sign() else p * sp.factor(c)
                       for p, c in collected.items()])
    yield sp.factor(expr)
    # sympy's factor treats sqrt(n) and n as unrelated: write a positive n as r^2 (so sqrt(n) = r), factor, put back
    roots = {p.base for p in expr.atoms(sp.Pow) if p.base.is_Symbol and p.base.is_positive and p.exp.is_Rational
             and p.exp.q == 2}
    if roots:
        squares = {s: sp.Dummy(f"root_{s.name}", positive=True) for s in roots}
        factored = sp.factor(expr.xreplace({s: r ** 2 for s, r in squares.items()}))
        yield factored.xreplace({r: sp.sqrt(s) for s, r in squares.items()})
    numerator, denominator = sp.fraction(sp.together(expr))
    if denominator != 1:
        for top in (numerator, sp.expand(numerator)):
            if top.is_Add:
                yield sp.Add(*[sp.factor(t / denominator) for t in top.args])
    expanded = sp.expand(expr)
    if expanded.is_Add:
        yield expanded
        for symbol in sorted(expanded.free_symbols, key=lambda s: s.name):
            yield sp.collect(expanded, symbol, func=sp.factor)


def _best(expr, order, step, opaque=None):
    """The cheapest verified-equal candidate; ``opaque``: ``{Dummy: subexpression}`` kept whole (radicals)."""
    opaque = opaque or {}
    if expr.is_Atom or not isinstance(expr, sp.Expr):
        return expr.xreplace(opaque)

    def cost(candidate):
        # Fewer occurrences of the symbols first (what a person factors out), then a series in the step, then
        # the shorter LaTeX.
        whole = candidate.xreplace(opaque)
        text = _printer(whole, order).doprint(whole)
        text = re.sub(r"\s+", "", text.replace(r"{\left(", "(").replace(r"\right)}", ")"))
        occurrences = sum(1 for atom in sp.preorder_traversal(whole) if atom.is_Symbol)
        series = isinstance(step, sp.Symbol) and candidate.is_Add and len(
            {_exponent_of(t, step) for t in candidate.args}) >= 2
        return (occurrences, not series, len(text) + 2 * text.count("(-"))  # "(-a - b)": a sign to pull out

    if not _expandable(expr):
        return expr.xreplace(opaque)
    best, best_cost = expr, cost(expr)
    try:
        for candidate in _candidates(expr, step):
            if candidate == best:
                continue
            candidate_cost = cost(candidate)
            if candidate_cost < best_cost and _equal(candidate, expr):
                best, best_cost = candidate, candidate_cost
    except Exception:  # noqa: BLE001 -- a readable form is optional; the derived expression is always correct
        pass
    return best.xreplace(opaque)


MAX_EXPANDED_POWER = 8  # (a + b + ...)^p with a larger p is not expanded (its expansion can have ~p^k terms)


def _expandable(expr) -> bool:
    return all(not (p.base.is_Add and p.exp.is_Integer and abs(p.exp) > MAX_EXPANDED_POWER)
               for p in expr.atoms(sp.Pow))


def readable(expr, order=()):
    """An expression equal to ``expr`` (proved: the difference simplifies to 0) that prints shorter: radicands and
    then the whole expression are factored, collected or split where that shortens the printed LaTeX."""
    if isinstance(expr, sp.core.relational.Relational):
        return expr.func(readable(expr.lhs, order), readable(expr.rhs, order), evaluate=False)
    if not isinstance(expr, sp.Expr) or expr.is_Atom or sp.count_ops(expr) > MAX_REWRITE_OPS:
        return expr
    order = tuple(order)
    step = order[0] if order and order[0].name in STEP_NAMES else next(
        (s for s in expr.free_symbols if s.name in STEP_NAMES), None)
    radicals = [p for p in expr.atoms(sp.Pow) if p.exp.is_Rational and p.exp.q != 1 and p.base.is_Add]
    if radicals:
        rewritten = expr.xreplace({p: sp.Pow(_best(p.base, order, step), p.exp, evaluate=False) for p in radicals})
        if _equal(rewritten, expr):
            expr = rewritten
    if _is_series(expr, step):  # as derived: collected in powers of the step (common.present)
        return expr
    radicals = [p for p in expr.atoms(sp.Pow) if p.exp.is_Rational and p.exp.q != 1 and not p.base.is_Atom]
    opaque = {sp.Dummy(f"r{i}"): p for i, p in enumerate(radicals)}
    protected = expr.xreplace({p: d for d, p in opaque.items()})
    return _best(protected, order, step, opaque)


def _is_series(expr, step) -> bool:
    return expr.is_Add and len({_exponent_of(t, step) for t in expr.args}) >= 2 and max(
        _exponent_of(t, step) for t in expr.args) >= 2


def to_latex(expr, order=(), rewrite: bool = True) -> str:
    """LaTeX of ``expr`` as a paper prints it (module docstring); ``order``: the model's symbols in the order a
    product lists them (:func:`symbol_order`); ``rewrite``: look for a shorter equal form first (:func:`readable`)."""
    shown = readable(expr, order) if rewrite else expr
    return _printer(shown, order).doprint(shown)


def parse_back(text: str, like) -> sp.Basic:
    """Parse ``text`` with ``parse_latex`` and rename its symbols to the (assumption-carrying) ones of ``like``."""
    from sympy.parsing.latex import parse_latex

    parsed = parse_latex(text)
    # parse_latex reads \max(a, b) and \min(a, b) as undefined functions named max and min
    named = {"max": sp.Max, "min": sp.Min}
    parsed = parsed.replace(lambda e: isinstance(e, sp.core.function.AppliedUndef) and e.func.__name__ in named,
                            lambda e: named[e.func.__name__](*e.args))
    renaming = {_parsed(symbol_latex(symbol)): symbol for symbol in getattr(like, "free_symbols", ())}
    return parsed.xreplace(renaming)


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> sp.Basic:
    """``parse_latex(text)`` of a symbol's LaTeX, parsed once per process (ANTLR's Python runtime takes ~20 ms a
    call, and every round trip renames the same few symbols)."""
    from sympy.parsing.latex import parse_latex

    return parse_latex(text)


def round_trips(expr, order=()) -> bool:
    """True when ``parse_latex(to_latex(expr))`` is equal to ``expr`` (symbolically, after renaming)."""
    back = parse_back(to_latex(expr, order), expr)
    if isinstance(expr, sp.core.relational.Relational):
        if type(back) is not type(expr):
            return False
        back, expr = back.lhs - back.rhs, expr.lhs - expr.rhs
    difference = back - expr
    try:  # cancel decides the rational expressions (most of them) at a fraction of simplify's cost
        if sp.cancel(difference) == 0:
            return True
    except sp.PolynomialError:
        pass
    return sp.simplify(difference) == 0


def _lhs(text: str) -> str:
    r"""A left-hand side as TeX accepts it: a subscript added to a subscripted name is merged,
    ``w_{1}_{\mathrm{I}}`` -> ``w_{1,\mathrm{I}}`` (TeX stops on a double subscript)."""
    previous = None
    while previous != text:
        previous, text = text, re.sub(r"_\{((?:[^{}]|\{[^{}]*\})*)\}_\{", r"_{\1,", text)
    return text


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9:-]+", "-", text)


# Packages beyond texlive-latex-base (lmodern, booktabs, geometry) are used where installed and replaced otherwise,
# so that the documents compile with the base set alone.
PREAMBLE = [r"\documentclass[11pt]{article}", r"\usepackage{amsmath,amssymb,graphicx}",
            r"\IfFileExists{lmodern.sty}{\usepackage[T1]{fontenc}\usepackage{lmodern}}{}",
            r"\IfFileExists{booktabs.sty}{\usepackage{booktabs}}{\providecommand{\toprule}{\hline}"
            r"\providecommand{\midrule}{\hline}\providecommand{\bottomrule}{\hline}}",
            r"\IfFileExists{geometry.sty}{\usepackage[margin=2cm]{geometry}}{}",
            r"\allowdisplaybreaks"]


def _entry(item):
    """``(model, parameterization, results)`` or ``(model, parameterization, results, order)``."""
    model_name, parameterization, results, *rest = item
    return model_name, parameterization, results, (tuple(rest[0]) if rest else ())


def body(derivations, level: str = "section") -> list:
    """LaTeX lines (no preamble) for every result of every ``(model, parameterization, results[, order])``
    (``order``: :func:`symbol_order` of the model)."""
    sub = "sub" + level
    lines = []
    for item in derivations:
        model_name, parameterization, results, order = _entry(item)
        lines.append(rf"\{level}{{Model \texttt{{{text_escape(model_name)}}} ({text_escape(parameterization)})}}")
        for result in results:
            lines.append(rf"\{sub}{{{prose(result.title).strip()}}}")
            if result.notes:
                lines.append(prose(result.notes))
            for equation in result.equations:
                if equation.heading:
                    lines.append(prose(equation.heading))
                text = to_latex(equation.rhs, order)
                if equation.lhs:
                    text = f"{_lhs(equation.lhs)} {equation.relation} {text}"
                label = _label(f"eq:{model_name}:{parameterization}:{equation.label}")
                lines += [r"\begin{equation}", rf"  {text}", rf"  \label{{{label}}}", r"\end{equation}"]
    return lines


def document(derivations, title: str = "Derived sharpness dynamics") -> str:
    r"""A standalone LaTeX document holding every result of every ``(model, parameterization, results[, order])``."""
    lines = PREAMBLE + [rf"\title{{{text_escape(title)}}}", r"\date{}", r"\begin{document}", r"\maketitle"]
    lines += body(derivations)
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# Text


_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "&": r"\&", "%": r"\%",
                 "#": r"\#", "$": r"\$", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
                 "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


def text_escape(text: str) -> str:
    """``text`` as pdflatex prints it literally: special characters escaped, ``--`` kept as two hyphens."""
    out = re.sub(r"[\\{}_&%#$^~<>|]", lambda m: _TEXT_ESCAPES[m.group()], str(text))
    return out.replace("--", "-{}-")


def texttt(text: str) -> str:
    r"""``text`` (a command line, a path) in ``\texttt``, escaped; lines break between words (a word is never
    broken at its hyphens) and inside a word over 30 characters only after ``/``, ``=`` or ``,``."""
    words = []
    for word in str(text).split(" "):
        escaped = text_escape(word)
        if len(word) > 30:
            words.append(re.sub(r"(/|=|,)", r"\1\\allowbreak{}", escaped.replace("-", r"\mbox{-}")))
        else:
            words.append(r"\mbox{" + escaped + "}")
    return r"\texttt{" + " ".join(words) + "}"


GREEK = {"alpha": r"\alpha", "beta": r"\beta", "gamma": r"\gamma", "delta": r"\delta", "Delta": r"\Delta",
         "epsilon": r"\varepsilon", "eta": r"\eta", "kappa": r"\kappa", "lambda": r"\lambda", "lam": r"\lambda",
         "mu": r"\mu", "sigma": r"\sigma", "theta": r"\theta", "partial": r"\partial"}
_OPERATORS = {"=": "=", "<": "<", ">": ">", "<=": r"\le", ">=": r"\ge", "+-": r"\pm", "^": "^", "/": "/",
              "|": "|", "+": "+", "*": r"\,", "'": "'"}
_TOKEN = re.compile(r"(?P<space>\s+)|(?P<deriv>d/d[A-Za-z]+(?:_\{?[A-Za-z0-9]+\}?)?)"
                    r"|(?P<angle><[A-Za-z], [A-Za-z]>)"
                    r"|(?P<word>[A-Za-z]{2,}(?:'[a-z]+)?(?:_\{?[A-Za-z0-9]+\}?)?)"
                    r"|(?P<letter>[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?'*)|(?P<number>\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
                    r"|(?P<op><=|>=|\+-|[=<>^/|+*])|(?P<minus>-)|(?P<other>.)")
_TEXT_LETTERS = {"a", "A", "I"}  # single letters that are English words


def _subscript(name: str) -> str:
    head, _, tail = name.partition("_")
    tail = tail.strip("{}")
    head = GREEK.get(head, head)
    return f"{head}_{{{tail}}}" if tail else head


def _math_token(kind: str, value: str) -> str:
    if kind == "deriv":
        return r"\partial/\partial " + _subscript(value[3:])
    if kind == "angle":
        return rf"\langle {value[1]}, {value[4]}\rangle"
    if kind in ("word", "letter", "greek", "mathword"):
        primes = len(value) - len(value.rstrip("'"))
        return _subscript(value.rstrip("'")) + "'" * primes
    if kind == "op":
        return _OPERATORS[value]
    if kind == "minus":
        return "-"
    return value


def prose(text: str) -> str:
    r"""Plain text with its mathematics in math mode, as a LaTeX paragraph: ``|mu| < 1`` -> ``$|\mu| < 1$``,
    ``Delta S / epsilon^2`` -> ``$\Delta S / \varepsilon^2$``, ``z = +-1`` -> ``$z = \pm 1$``, a lone symbol
    ``R`` -> ``$R$``; a span in backticks is code (``\`pip install -e .\``` -> :func:`texttt`); everything else
    escaped (:func:`text_escape`)."""
    pieces = str(text).split("`")
    if len(pieces) % 2 == 0:  # an unpaired last backtick is text
        pieces[-2:] = [pieces[-2] + "`" + pieces[-1]]
    if len(pieces) > 1:  # code spans (odd places) alternate with prose
        return "".join(texttt(piece) if index % 2 else prose(piece).rstrip("\n")
                       for index, piece in enumerate(pieces)) + "\n"
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(str(text))]
    kinds = []
    for i, (kind, value) in enumerate(tokens):
        if kind == "word":
            kind = "greek" if value.split("_")[0] in GREEK else ("mathword" if "_" in value else "word")
        if kind == "letter" and value in _TEXT_LETTERS:
            kind = "word"
        if kind == "minus":  # a minus between spaces (or before a number after a space); else a hyphen
            before = tokens[i - 1][0] if i else "space"
            after = tokens[i + 1][0] if i + 1 < len(tokens) else "space"
            kind = "minus" if before == "space" and after in ("space", "number", "letter", "greek") else "hyphen"
        kinds.append(kind)
    mathy = {"deriv", "angle", "greek", "mathword", "letter", "number", "op", "minus"}
    anchors = {"deriv", "angle", "greek", "mathword", "op", "minus"}
    out, text, i = [], [], 0

    def flush():
        out.append(text_escape("".join(text)))
        text.clear()

    while i < len(tokens):
        if kinds[i] not in mathy:
            text.append(tokens[i][1])
            i += 1
            continue
        j = i
        while j < len(tokens) and (kinds[j] in mathy or (kinds[j] == "space" and j + 1 < len(tokens)
                                                        and kinds[j + 1] in mathy)):
            j += 1
        span = list(range(i, j))
        has_anchor = any(kinds[k] in anchors for k in span)
        single = len(span) == 1 and kinds[i] == "letter"
        if has_anchor or single:
            if not any(kinds[k] in ("letter", "number", "greek", "mathword", "deriv", "angle") for k in span):
                text.extend(tokens[k][1] for k in span)
            else:
                flush()
                math = ""
                for k in span:
                    piece = " " if kinds[k] == "space" else _math_token(kinds[k], tokens[k][1])
                    if re.search(r"\\[A-Za-z]+$", math) and re.match(r"[A-Za-z0-9]", piece):
                        math += " "
                    math += piece
                math = re.sub(r"\s+", " ", math).strip()
                math = re.sub(r"\^(\w+)", r"^{\1}", math)
                out.append(f"${math}$")
        else:
            text.extend(tokens[k][1] for k in span)
        i = j
    flush()
    return "".join(out) + "\n"


def escape(text: str) -> str:
    """Text with LaTeX's special characters escaped, as a paragraph (see :func:`prose` for text holding maths)."""
    return text_escape(text) + "\n"
