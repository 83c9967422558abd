r"""A whitelist parser for user-written losses: text in, SymPy expression out, with nothing reaching ``eval``.

SymPy's own ``parse_expr`` ends in Python's ``eval``; this recursive-descent parser builds SymPy objects directly
from a closed grammar::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("+" | "-") unary | power
    power  := atom (("^" | "**") unary)?          (right-associative)
    atom   := NUMBER | NAME | FUNCTION "(" expr ")" | "(" expr ")"

Names are letters, digits and underscores, starting with a letter (so no dunder names, no attribute access,
no keywords such as ``lambda``); functions come from :data:`FUNCTIONS`; exponents must be numbers of magnitude at
most :data:`MAX_EXPONENT` (at most :data:`MAX_DEGREE` once nested powers combine), numbers below
:math:`2^{4096}`, and the expanded degree of a polynomial at most :data:`MAX_DEGREE`.
"""
from __future__ import annotations

import re

import sympy as sp

from .errors import UserInputError

FUNCTIONS = {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh,
             "abs": sp.Abs}
CONSTANTS = {"pi": sp.pi}
MAX_LENGTH = 2000
MAX_EXPONENT = 16
MAX_DEGREE = 64
MAX_DEPTH = 60
MAX_BITS = 4096
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-z][A-Za-z0-9_]{0,31})|(?P<op>\*\*|[-+*/^(),]))")


def _refuse(reason: str):
    raise UserInputError(f"refused --loss: {reason}")


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
        tokens.append((kind, match.group(kind)))
        position = match.end()
    if not tokens:
        _refuse("empty expression")
    return tokens


class _Parser:
    def __init__(self, tokens, symbols: dict):
        self.tokens, self.index, self.symbols, self.depth = tokens, 0, symbols, 0

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else (None, None)

    def take(self, value=None):
        kind, text = self.peek()
        if kind is None or (value is not None and text != value):
            _refuse(f"expected {value or 'more input'!r} at the end" if kind is None else f"expected {value!r}, got {text!r}")
        self.index += 1
        return kind, text

    def nested(self, method):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            _refuse(f"nested deeper than {MAX_DEPTH} levels")
        try:
            return method()
        finally:
            self.depth -= 1

    def expr(self):
        value = self.nested(self.term)
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            right = self.nested(self.term)
            value = value + right if op == "+" else value - right
        return value

    def term(self):
        value = self.nested(self.unary)
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            right = self.nested(self.unary)
            value = value * right if op == "*" else value / right
        return value

    def unary(self):
        if self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            value = self.nested(self.unary)
            return -value if op == "-" else value
        return self.nested(self.power)

    def power(self):
        base = self.nested(self.atom)
        if self.peek()[1] in ("^", "**"):
            self.take()
            exponent = self.nested(self.unary)
            if not exponent.is_number or not exponent.is_real:
                _refuse("exponents must be numbers")
            if abs(exponent) > MAX_EXPONENT:
                _refuse(f"exponent {exponent} exceeds {MAX_EXPONENT} in magnitude")
            if base.is_number and base != 0 and abs(exponent) * abs(float(sp.log(abs(base), 2))) > MAX_BITS:
                _refuse(f"a number larger than 2^{MAX_BITS}")
            value = base ** exponent
            # Nested powers combine ((x^16)^16 is x^256): check the combined exponent before going on.
            if value.is_Pow and value.exp.is_number and abs(value.exp) > MAX_DEGREE:
                _refuse(f"exponent {value.exp} exceeds {MAX_DEGREE} after combining powers")
            return value
        return base

    def atom(self):
        kind, text = self.take()
        if kind == "number":
            return sp.Rational(text)
        if kind == "name":
            if text in FUNCTIONS:
                self.take("(")
                argument = self.nested(self.expr)
                self.take(")")
                return FUNCTIONS[text](argument)
            if self.peek()[1] == "(":
                _refuse(f"unknown function {text!r}; allowed: {', '.join(FUNCTIONS)}")
            if text in CONSTANTS:
                return CONSTANTS[text]
            return self.symbols.setdefault(text, sp.Symbol(text, real=True))
        if text == "(":
            value = self.nested(self.expr)
            self.take(")")
            return value
        _refuse(f"unexpected {text!r}")


def parse_loss(text: str) -> sp.Expr:
    """The SymPy expression of ``text`` under the whitelist grammar (module docstring), or a one-line refusal."""
    parser = _Parser(_tokens(text), {})
    value = parser.expr()
    if parser.index != len(parser.tokens):
        _refuse(f"unexpected {parser.tokens[parser.index][1]!r} after a complete expression")
    if not value.free_symbols:
        _refuse("the loss has no parameters")
    if value.is_polynomial(*value.free_symbols):
        degree = sp.Poly(value, *sorted(value.free_symbols, key=str)).total_degree()
        if degree > MAX_DEGREE:
            _refuse(f"polynomial degree {degree} exceeds {MAX_DEGREE}")
    return value
