r"""A whitelist parser for user-written losses: text in, SymPy expression out, with nothing reaching ``eval``.

SymPy's own ``parse_expr`` ends in Python's ``eval``; this recursive-descent parser builds a small tree of its
own from a closed grammar::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("+" | "-") unary | power
    power  := atom (("^" | "**") unary)?          (right-associative)
    atom   := NUMBER | NAME | FUNCTION "(" expr ")" | "(" expr ")"

measures that tree (nothing is expanded, no SymPy object exists yet), refuses it if any limit below is exceeded,
and only then builds the SymPy expression. Every refusal is one :class:`~analysis.errors.UserInputError` reading
``refused --loss: <reason>``; no other exception leaves :func:`parse_loss`.

Vocabulary
    Names are letters, digits and underscores, starting with a letter, at most :data:`MAX_NAME_LENGTH`
    characters (so no dunder names, no attribute access, no keywords such as ``lambda`` doing anything): each is
    a real parameter. Reserved names are refused (:data:`RESERVED`: ``t``, ``E``, ``I``, ``oo``, ``zoo``,
    ``nan``; a model adds its own, ``product`` adds ``eta``), and so are function names used as parameters.
    Functions (:data:`FUNCTIONS`): ``exp``, ``log``, ``sin``, ``cos``, ``tanh``; ``sqrt`` and ``abs`` are
    refused with the reason (:data:`UNSUPPORTED_FUNCTIONS`). Constant: ``pi``.

Limits on the text and the tree (all checked before any SymPy object is built)
    * at most :data:`MAX_LENGTH` = 2000 characters;
    * at most :data:`MAX_NODES` = 300 tree nodes (numbers, names, operations, function calls);
    * at most :data:`MAX_NESTING` = 32 levels of nesting (parentheses, function calls, signs and exponents);
    * at most :data:`MAX_PARAMETERS` = 16 distinct parameter names (``y`` included): the compiled kernels take
      every parameter as an argument, and numba cannot inline calls with more than 30 arguments;
    * functions of the parameters nested at most :data:`MAX_FUNCTION_NESTING` = 2 deep (``exp(exp(a))`` is
      accepted, ``exp(exp(exp(a)))`` is not: each level multiplies the size of every derivative); functions of
      constants do not count;
    * at most :data:`MAX_FACTORS` = 8 distinct parameters multiplied together in one term once multiplied out,
      not counting the model's own parameters such as ``y`` (the cost of the fixed-point derivation grows
      exponentially with it: ``a0*...*a7`` takes SymPy about 25 s, ``a0*...*a11`` more than 90 s; ``--depth``
      is bounded by 8 too);
    * exponents are integer constants of magnitude at most :data:`MAX_EXPONENT` = 16, and at most
      :data:`MAX_DEGREE` = 64 once nested powers combine (``(a^16)^16`` is ``a^256``): non-integer powers
      (``sqrt``, ``a^(1/3)``, ``a^pi``) are refused, as they are not real for negative bases and the
      derivation cannot yet factor a Hessian containing them (``sp.factor_list`` in
      ``analysis.derivations.spectrum.closed_form_roots`` raises ``PolynomialError`` on a denominator such as
      ``(a**2 + 1)**(3/2)``); once it can, powers of bases SymPy proves positive could be accepted;
    * degree at most :data:`MAX_DEGREE` = 64, computed on the tree without expanding: ``deg(p + q) = max``,
      ``deg(p q) = deg(p/q) = deg p + deg q``, ``deg(p^k) = |k| deg p``, ``deg f(p) = deg p``;
    * at most :data:`MAX_TERMS` = 1000 terms once multiplied out, bounded on the tree without expanding: a sum
      adds, a product multiplies, ``p^k`` has at most ``C(t + k - 1, k)`` terms for ``t`` terms of ``p``, and
      nothing has more terms than there are monomials of its degree in its parameters (so
      ``(a+b+c+d+e+f+g+h)^16``, 245157 terms, is refused at once instead of expanded).

Limits on numbers
    * a literal has at most :data:`MAX_LITERAL_DIGITS` = 40 digits and an exponent part of at most
      :data:`MAX_LITERAL_EXPONENT_DIGITS` = 4 digits, and its value, read from the text before it is built,
      must be 0 or of magnitude in [1e-300, 1e300] (:data:`MAX_MAGNITUDE` = 300 decimal orders): so
      ``1e999999999`` is refused without building a billion-digit integer;
    * constants (number-valued subexpressions such as ``2^16``, ``exp(100)``, ``pi^3``) are evaluated on the
      tree; an exact one that would exceed :math:`2^{4096}` (:data:`MAX_BITS`) is refused before it is
      computed, and every constant must be finite as a float: 0 or of magnitude in [1e-300, 1e300]
      (``exp(exp(1000))`` is refused); division by zero, ``log`` of zero, ``log`` of a negative number (not
      real) are refused;
    * coefficients: multiplied out with denominators cleared, and with the factors that two derivatives bring
      down (:math:`\deg^2`), the exact integers of the loss must stay below :math:`2^{62}`
      (:data:`MAX_COEFFICIENT_BITS`), because the compiled numba kernels type integer literals as 64-bit
      integers: e.g. ``1e14 * (a*b - y)^2`` is accepted, ``1e17 * (a*b - y)^2`` or ``((2^16)^16)^16*a*b`` are
      not. Irrational constant factors (``exp(100)``) must stay below 1e300 once multiplied out.

Checks on the built expression (cheap once the limits above hold)
    * no infinity, NaN or imaginary unit (``a/(b - b)`` reaches SymPy as ``zoo*a``), no denominator that
      multiplies out to 0, at least one parameter;
    * ``log`` only of arguments SymPy proves positive for every real value of the parameters
      (``log(1 + a^2)``, ``log(1 + exp(a))``; not ``log(a)``, whose loss is not real for ``a < 0``).

Divisions by expressions of the parameters (``1/a``, ``a^-2``) are accepted: the loss is then singular where the
denominator vanishes, and GD runs that reach it report divergence.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping

import sympy as sp

from .errors import UserInputError

FUNCTIONS = {"exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh}
UNSUPPORTED_FUNCTIONS = {
    "sqrt": "sqrt is not supported (nor any non-integer power): it is not real for negative arguments, and the "
            "derivation cannot factor a Hessian with fractional powers; use e.g. a^2 or log(1 + a^2)",
    "abs": "abs is not supported: its Hessian does not exist at the kink (sign, DiracDelta); use a smooth loss "
           "such as (a*b - y)^2",
}
CONSTANTS = {"pi": sp.pi}
#: Names a loss cannot use, with the reason; a model adds its own (``product`` adds ``eta``).
RESERVED = {
    "t": "the spectral variable of the derived characteristic polynomials",
    "E": "how results print Euler's number exp(1)",
    "I": "SymPy's imaginary unit",
    "oo": "SymPy's infinity",
    "zoo": "SymPy's complex infinity",
    "nan": "SymPy's not-a-number",
}

MAX_LENGTH = 2000
MAX_NAME_LENGTH = 32
MAX_NODES = 300
MAX_NESTING = 32
MAX_FUNCTION_NESTING = 2
MAX_PARAMETERS = 16
MAX_FACTORS = 8
MAX_EXPONENT = 16
MAX_DEGREE = 64
MAX_TERMS = 1000
MAX_LITERAL_DIGITS = 40
MAX_LITERAL_EXPONENT_DIGITS = 4
MAX_MAGNITUDE = 300
MAX_BITS = 4096
MAX_COEFFICIENT_BITS = 62

_BIG = Fraction(10) ** MAX_MAGNITUDE
_SMALL = 1 / _BIG
_LOG_BIG = MAX_MAGNITUDE * math.log(10)  # exp(x) leaves [1e-300, 1e300] beyond this
_TOKEN = re.compile(r"\s*(?:(?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
                    r"|(?P<name>[A-Za-z][A-Za-z0-9_]*)|(?P<op>\*\*|[-+*/^(),]))")
_NUMBER = re.compile(r"(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:[eE](?P<exp>[+-]?[0-9]+))?\Z")


def _refuse(reason: str):
    raise UserInputError(f"refused --loss: {reason}")


# ---------------------------------------------------------------------------------------------------------------
# Tokens and literals


def _tokens(text: str) -> list:
    if len(text) > MAX_LENGTH:
        _refuse(f"longer than {MAX_LENGTH} characters")
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            bad = text[position:].lstrip()[:1]
            _refuse(f"unexpected character {bad!r} at position {len(text) - len(text[position:].lstrip())}; "
                    "allowed: numbers, names, + - * / ^ ** ( ) and the functions " + ", ".join(FUNCTIONS))
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "name" and len(value) > MAX_NAME_LENGTH:
            _refuse(f"name {value[:MAX_NAME_LENGTH]}... longer than {MAX_NAME_LENGTH} characters")
        tokens.append((kind, value))
        position = match.end()
    if not tokens:
        _refuse("empty expression")
    return tokens


def _literal(text: str) -> Fraction:
    """The exact value of a number literal, its size checked on the text before any big integer is built."""
    parts = _NUMBER.match(text)
    whole, fraction, exponent = parts.group("int") or "", parts.group("frac") or "", parts.group("exp")
    if len(whole) + len(fraction) > MAX_LITERAL_DIGITS:
        _refuse(f"number {text[:20]}... has more than {MAX_LITERAL_DIGITS} digits")
    if exponent is not None and len(exponent.lstrip("+-")) > MAX_LITERAL_EXPONENT_DIGITS:
        _refuse(f"number {text[:30]} has an exponent of more than {MAX_LITERAL_EXPONENT_DIGITS} digits "
                f"(numbers must be 0 or between 1e-{MAX_MAGNITUDE} and 1e{MAX_MAGNITUDE} in magnitude)")
    digits = whole + fraction
    if digits.strip("0") == "":
        return Fraction(0)
    shift = int(exponent or 0) - len(fraction)
    significant = digits.lstrip("0")
    order = len(significant) - 1 + shift  # value in [10^order, 10^(order + 1))
    if order > MAX_MAGNITUDE or order < -MAX_MAGNITUDE:
        _refuse(f"number {text} is outside the range 1e-{MAX_MAGNITUDE} .. 1e{MAX_MAGNITUDE} of magnitudes")
    value = Fraction(int(significant)) * (Fraction(10) ** shift)
    _check_magnitude(value, None, f"number {text}")
    return value


# ---------------------------------------------------------------------------------------------------------------
# The tree and its measures


@dataclass
class _Node:
    """A node of the parsed loss with the bounds the limits are checked on.

    ``approx`` is the float value of a constant subtree (``None`` if it depends on a parameter) and ``exact`` its
    exact rational value where it has one. ``degree``, ``terms`` and ``factors`` bound the degree, the number of
    terms and the number of distinct parameters in one term once multiplied out; ``den`` is a common denominator
    of its rational coefficients and ``nbits`` bounds log2 of the sum of the absolute values of the coefficients
    of ``den`` times it, multiplied out (for a quotient, of numerator and denominator); ``magnitude`` bounds
    log10 of irrational constant factors; ``calls`` is the nesting of functions of the parameters.
    """

    kind: str
    children: tuple = ()
    data: object = None
    approx: float | None = None
    exact: Fraction | None = None
    names: frozenset = field(default_factory=frozenset)
    movers: frozenset = field(default_factory=frozenset)  # the names that are not model parameters
    degree: int = 0
    terms: int = 1
    factors: int = 0
    nbits: float = 0.0
    den: int = 1
    magnitude: float = 0.0
    calls: int = 0

    @property
    def constant(self) -> bool:
        return self.approx is not None

    @property
    def bits(self) -> float:
        """log2 bound of the integers of this node multiplied out with its denominators cleared."""
        return self.nbits + _log2(self.den)


def _log2(n: int) -> float:
    n = abs(n)
    return math.log2(n) if n > 1 else 0.0


def _log10(value: Fraction) -> float:
    return math.log10(abs(value.numerator)) - math.log10(value.denominator)


def _check_magnitude(exact: Fraction | None, approx: float | None, what: str) -> None:
    """A constant must be 0 or of magnitude in [1e-300, 1e300] (finite as a float, not underflowing)."""
    if exact is not None:
        if abs(exact) > _BIG:
            _refuse(f"{what} is about 1e{_log10(exact):.0f}, beyond 1e{MAX_MAGNITUDE} (not finite as a float)")
        if exact != 0 and abs(exact) < _SMALL:
            _refuse(f"{what} is about 1e{_log10(exact):.0f}, nonzero but below 1e-{MAX_MAGNITUDE} in magnitude")
        return
    if approx is None or not math.isfinite(approx) or abs(approx) > 10.0 ** MAX_MAGNITUDE:
        _refuse(f"{what} is not finite as a float (beyond 1e{MAX_MAGNITUDE})")
    if approx != 0 and abs(approx) < 10.0 ** -MAX_MAGNITUDE:
        _refuse(f"{what} is nonzero but below 1e-{MAX_MAGNITUDE} in magnitude")


def _constant(kind, children, data, exact: Fraction | None, approx: float | None, what: str) -> _Node:
    """A constant node (value checked); its bits are those of its exact value, or of the literals inside it."""
    _check_magnitude(exact, approx, what)
    if exact is not None:
        return _Node(kind, children, data, float(exact), exact, nbits=_log2(exact.numerator),
                     den=exact.denominator)
    inner = max((c.bits for c in children), default=0.0)  # the literals inside are printed as they are
    magnitude = math.log10(abs(approx)) if approx else 0.0
    return _Node(kind, children, data, approx, None, nbits=inner, magnitude=magnitude)


def _monomials(names: frozenset, degree: int) -> int:
    """Number of monomials of degree at most ``degree`` in ``names``: no expansion has more terms."""
    return math.comb(len(names) + degree, degree)


def _check_shape(node: _Node) -> _Node:
    if node.degree > MAX_DEGREE:
        _refuse(f"degree {node.degree} exceeds {MAX_DEGREE} (counted on the expression, without expanding it)")
    node.terms = min(node.terms, _monomials(node.names, node.degree))
    if node.terms > MAX_TERMS:
        _refuse(f"multiplied out, the loss would have up to {node.terms} terms (at most {MAX_TERMS})")
    node.factors = min(node.factors, len(node.movers))
    if node.factors > MAX_FACTORS:
        _refuse(f"a term multiplies {node.factors} different parameters (at most {MAX_FACTORS}: the derivation's "
                "cost grows exponentially with it)")
    if node.calls > MAX_FUNCTION_NESTING:
        _refuse(f"functions of the parameters nested {node.calls} deep (at most {MAX_FUNCTION_NESTING}, "
                "e.g. exp(exp(a)))")
    _check_bits(node)
    return node


def _refuse_bits(bits: float):
    _refuse(f"coefficients too large or too finely divided: multiplied out, with denominators cleared and two "
            f"derivatives taken, they reach about 2^{bits:.1f}, and the compiled kernels need integers below "
            f"2^{MAX_COEFFICIENT_BITS} (e.g. 1e14*(a*b - y)^2 is fine, 1e17*(a*b - y)^2 or 1e-20*(a - y)^2 is not)")


def _check_bits(node: _Node) -> None:
    """Early refusal: the bits of a node only grow in the nodes above it."""
    if node.bits > MAX_COEFFICIENT_BITS:
        _refuse_bits(node.bits)


def _log2_sum(exponents) -> float:
    exponents = list(exponents)
    top = max(exponents)
    return top + math.log2(sum(2.0 ** (e - top) for e in exponents))


def _add(items) -> _Node:
    """``items``: (node, negated) pairs."""
    children, flags = tuple(node for node, _ in items), tuple(flag for _, flag in items)
    if all(c.constant for c in children):
        if all(c.exact is not None for c in children):
            exact = sum((-c.exact if neg else c.exact for c, neg in items), Fraction(0))
            return _constant("add", children, flags, exact, None, "a constant sum")
        approx = math.fsum(-c.approx if neg else c.approx for c, neg in items)
        return _constant("add", children, flags, None, approx, "a constant sum")
    den = math.lcm(*(c.den for c in children))
    return _check_shape(_Node(
        "add", children, flags,
        names=frozenset().union(*(c.names for c in children)),
        movers=frozenset().union(*(c.movers for c in children)),
        degree=max(c.degree for c in children), terms=sum(c.terms for c in children),
        factors=max(c.factors for c in children),
        nbits=_log2_sum(c.nbits + _log2(den // c.den) for c in children), den=den,
        magnitude=max(c.magnitude for c in children) + math.log10(len(children)),
        calls=max(c.calls for c in children)))


def _mul(items) -> _Node:
    """``items``: (node, divided) pairs."""
    children, flags = tuple(node for node, _ in items), tuple(flag for _, flag in items)
    for node, divided in items:
        if divided and node.constant and (node.exact == 0 or node.approx == 0):
            _refuse("division by zero")
    if all(c.constant for c in children):
        if all(c.exact is not None for c in children):
            exact = Fraction(1)
            for node, divided in items:
                exact = exact / node.exact if divided else exact * node.exact
                _check_magnitude(exact, None, "a constant product")
            return _constant("mul", children, flags, exact, None, "a constant product")
        if sum(abs(math.log10(abs(c.approx))) for c in children if c.approx) > 2 * MAX_MAGNITUDE:
            _refuse(f"a constant product is not finite as a float (beyond 1e{MAX_MAGNITUDE})")
        approx = 1.0
        for node, divided in items:
            approx = approx / node.approx if divided else approx * node.approx
        return _constant("mul", children, flags, None, approx, "a constant product")
    node = _Node("mul", children, flags, names=frozenset().union(*(c.names for c in children)),
                 movers=frozenset().union(*(c.movers for c in children)),
                 calls=max(c.calls for c in children))
    for child, divided in items:
        node.degree += child.degree
        node.terms *= child.terms
        node.factors += child.factors
        node.magnitude += -child.magnitude if divided and child.constant else child.magnitude
        if not divided:
            node.nbits += child.nbits
            node.den *= child.den
        elif child.exact is not None:  # dividing by p/q multiplies by q/p
            node.nbits += _log2(child.den)
            node.den *= abs(child.exact.numerator)
        else:  # a denominator polynomial (or an irrational constant): its integers count as well
            node.nbits += child.bits
        _check_bits(node)
    return _check_shape(node)


def _power(base: _Node, exponent: _Node) -> _Node:
    if not exponent.constant:
        _refuse("exponents must be numbers (for a^b write exp(b*log(a)) with a positive argument of log)")
    if exponent.exact is None or exponent.exact.denominator != 1:
        _refuse(f"non-integer exponent {_show(exponent)}: sqrt and fractional or irrational powers are not "
                "supported (not real for negative bases, and the derivation cannot factor their Hessians)")
    k = exponent.exact.numerator
    if abs(k) > MAX_EXPONENT:
        _refuse(f"exponent {k} exceeds {MAX_EXPONENT} in magnitude")
    if base.constant:
        if k < 0 and (base.exact == 0 or base.approx == 0):
            _refuse("division by zero (0 to a negative power)")
        if base.exact is not None:
            if max(_log2(base.exact.numerator), _log2(base.exact.denominator)) * abs(k) > MAX_BITS:
                _refuse(f"a number larger than 2^{MAX_BITS}")
            return _constant("pow", (base, exponent), k, base.exact ** k, None, "a constant power")
        if base.approx and abs(k * math.log10(abs(base.approx))) > MAX_MAGNITUDE:
            _refuse(f"a constant power is not finite as a float (beyond 1e{MAX_MAGNITUDE})")
        return _constant("pow", (base, exponent), k, None, base.approx ** k, "a constant power")
    if k == 0:
        return _constant("pow", (base, exponent), k, Fraction(1), None, "a constant power")
    if base.kind == "pow":  # SymPy combines (x^m)^k into x^(m k)
        combined = base.data * k
        if abs(combined) > MAX_DEGREE:
            _refuse(f"exponent {combined} exceeds {MAX_DEGREE} after combining powers")
    n = abs(k)
    node = _Node("pow", (base, exponent), k, names=base.names, movers=base.movers, degree=n * base.degree,
                 terms=math.comb(base.terms + n - 1, n), factors=n * base.factors,
                 magnitude=n * base.magnitude, calls=base.calls)
    if k > 0:
        node.nbits = n * base.nbits
        if n * _log2(base.den) > MAX_COEFFICIENT_BITS:
            _refuse_bits(n * base.bits)
        node.den = base.den ** n
    else:
        node.nbits = n * base.bits
    return _check_shape(node)


def _call(name: str, argument: _Node) -> _Node:
    if argument.constant:
        x, exact = argument.approx, argument.exact
        what = f"{name}({_show(argument)})"
        if name == "exp":
            if x > _LOG_BIG or x < -_LOG_BIG:
                _refuse(f"{what} is not finite as a float (beyond 1e{MAX_MAGNITUDE}) or below 1e-{MAX_MAGNITUDE}")
            return _constant("call", (argument,), name, Fraction(1) if exact == 0 else None, math.exp(x), what)
        if name == "log":
            if exact == 0 or x == 0:
                _refuse(f"{what} is not finite (log of zero)")
            if x < 0:
                _refuse(f"{what} is not real (log of a negative number)")
            return _constant("call", (argument,), name, Fraction(0) if exact == 1 else None, math.log(x), what)
        value = {"sin": math.sin, "cos": math.cos, "tanh": math.tanh}[name](x)
        exact_value = None if exact != 0 else (Fraction(1) if name == "cos" else Fraction(0))
        return _constant("call", (argument,), name, exact_value, value, what)
    return _check_shape(_Node(
        "call", (argument,), name, names=argument.names, movers=argument.movers, degree=argument.degree,
        terms=argument.terms,
        factors=argument.factors,
        # Derivatives of f(p) hold products of two derivatives of p: its integers square.
        nbits=2 * argument.bits + 1, magnitude=2 * max(argument.magnitude, 0.0),
        calls=argument.calls + 1))


def _show(node: _Node) -> str:
    if node.exact is not None:
        text = str(node.exact)
        return text if len(text) <= 30 else f"about 1e{_log10(node.exact):.0f}"
    return f"{node.approx:.6g}" if node.constant else "an expression"


# ---------------------------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, tokens, reserved: Mapping[str, str], parameters=()):
        self.tokens, self.index, self.reserved, self.parameters = tokens, 0, reserved, frozenset(parameters)
        self.names: dict = {}
        self.nodes = self.level = 0

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else (None, None)

    def take(self, value=None):
        kind, text = self.peek()
        if kind is None or (value is not None and text != value):
            _refuse(f"expected {value or 'more input'!r} at the end" if kind is None
                    else f"expected {value!r}, got {text!r}")
        self.index += 1
        return kind, text

    def count(self, node: _Node) -> _Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            _refuse(f"more than {MAX_NODES} numbers, names and operations")
        return node

    def nested(self, method):
        self.level += 1
        if self.level > MAX_NESTING:
            _refuse(f"nested deeper than {MAX_NESTING} levels (parentheses, function calls, signs and exponents)")
        try:
            return method()
        finally:
            self.level -= 1

    def expr(self) -> _Node:
        items = [(self.term(), False)]
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            items.append((self.term(), op == "-"))
        return items[0][0] if len(items) == 1 else self.count(_add(items))

    def term(self) -> _Node:
        items = [(self.unary(), False)]
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            items.append((self.unary(), op == "/"))
        return items[0][0] if len(items) == 1 else self.count(_mul(items))

    def unary(self) -> _Node:
        if self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            value = self.nested(self.unary)
            return value if op == "+" else self.count(_add([(value, True)]))
        return self.power()

    def power(self) -> _Node:
        base = self.atom()
        if self.peek()[1] in ("^", "**"):
            self.take()
            exponent = self.nested(self.unary)
            return self.count(_power(base, exponent))
        return base

    def atom(self) -> _Node:
        kind, text = self.take()
        if kind == "number":
            value = _literal(text)
            return self.count(_constant("number", (), value, value, None, f"number {text}"))
        if kind == "name":
            if text in FUNCTIONS or text in UNSUPPORTED_FUNCTIONS:
                if text in UNSUPPORTED_FUNCTIONS:
                    _refuse(UNSUPPORTED_FUNCTIONS[text])
                if self.peek()[1] != "(":
                    _refuse(f"{text!r} is a function: write {text}(...)")
                self.take("(")
                argument = self.nested(self.expr)
                self.take(")")
                return self.count(_call(text, argument))
            if self.peek()[1] == "(":
                _refuse(f"unknown function {text!r}; allowed: {', '.join(FUNCTIONS)}")
            if text in CONSTANTS:
                return self.count(_constant("pi", (), text, None, math.pi, text))
            if text in self.reserved:
                _refuse(f"the name {text!r} is reserved: {self.reserved[text]}; use another name")
            if text not in self.names:
                if len(self.names) >= MAX_PARAMETERS:
                    _refuse(f"more than {MAX_PARAMETERS} different parameters")
                self.names[text] = sp.Symbol(text, real=True)
            movers = frozenset() if text in self.parameters else frozenset([text])  # GD moves these only
            return self.count(_Node("name", (), text, names=frozenset([text]), movers=movers, degree=1,
                                    factors=len(movers)))
        if text == "(":
            value = self.nested(self.expr)
            self.take(")")
            return value
        _refuse(f"unexpected {text!r}")


# ---------------------------------------------------------------------------------------------------------------
# SymPy


def _sympy(node: _Node, symbols: dict) -> sp.Expr:
    kind = node.kind
    if kind == "number":
        return sp.Rational(node.exact.numerator, node.exact.denominator)
    if kind == "pi":
        return sp.pi
    if kind == "name":
        return symbols[node.data]
    if kind == "call":
        return FUNCTIONS[node.data](_sympy(node.children[0], symbols))
    if kind == "pow":
        return sp.Pow(_sympy(node.children[0], symbols), sp.Integer(node.data))
    if kind == "add":
        return sp.Add(*[-_sympy(c, symbols) if neg else _sympy(c, symbols) for c, neg in zip(node.children, node.data)])
    if kind == "mul":
        return sp.Mul(*[1 / _sympy(c, symbols) if d else _sympy(c, symbols) for c, d in zip(node.children, node.data)])
    raise AssertionError(kind)  # pragma: no cover


_ALLOWED = (sp.Symbol, sp.Add, sp.Mul, sp.Pow, sp.exp, sp.log, sp.sin, sp.cos, sp.tanh, sp.Rational,
            sp.core.numbers.Pi, sp.core.numbers.Exp1)


def _check_built(expr: sp.Expr) -> None:
    """Refuse what only SymPy's own evaluation reveals (``a/(b - b)`` is ``zoo*a``); bounded by the limits."""
    for sub in sp.preorder_traversal(expr):
        if sub in (sp.zoo, sp.nan, sp.oo, -sp.oo):
            _refuse("the loss is not finite (a division by zero or a log of zero)")
        if sub == sp.I:
            _refuse("the loss is not real")
        if not isinstance(sub, _ALLOWED):
            _refuse(f"the loss evaluates to an unsupported form ({type(sub).__name__})")
    for power in expr.atoms(sp.Pow):
        if power.exp.is_negative and not power.base.is_number and sp.expand(power.base) == 0:
            _refuse("division by zero (a denominator multiplies out to 0)")
    for log in expr.atoms(sp.log):
        if log.args[0].is_positive is not True:
            _refuse(f"log({sp.sstr(log.args[0])}) needs an argument that is positive for every real value of the "
                    "parameters (e.g. log(1 + a^2)); otherwise the loss is not real")


def parse_loss(text: str, reserved: Mapping[str, str] | None = None, parameters=()) -> sp.Expr:
    """The SymPy expression of ``text`` under the whitelist grammar and the limits of the module docstring.

    ``reserved`` maps further names the loss may not use to the reason (added to :data:`RESERVED`);
    ``parameters`` names the model's own parameters (``product``: the target ``y``), which GD does not move: they
    count among the :data:`MAX_PARAMETERS` names but not among the :data:`MAX_FACTORS` multiplied in a term.
    Every refusal is a :class:`~analysis.errors.UserInputError` reading ``refused --loss: <reason>``, one line.
    """
    if not isinstance(text, str):
        _refuse(f"expected text, got {type(text).__name__}")
    parser = _Parser(_tokens(text), {**RESERVED, **(reserved or {})}, parameters)
    tree = parser.expr()
    if parser.index != len(parser.tokens):
        _refuse(f"unexpected {parser.tokens[parser.index][1]!r} after a complete expression")
    if tree.constant:
        _refuse("the loss has no parameters")
    bits = tree.bits + 2 * math.log2(max(tree.degree, 1))
    if bits > MAX_COEFFICIENT_BITS:
        _refuse_bits(bits)
    if tree.magnitude > MAX_MAGNITUDE:
        _refuse(f"constant factors reach about 1e{tree.magnitude:.0f} once multiplied out, beyond "
                f"1e{MAX_MAGNITUDE} (not finite as a float)")
    expr = _sympy(tree, parser.names)
    _check_built(expr)
    if not expr.free_symbols:
        _refuse("the loss has no parameters")
    return expr
