r"""Validation of parameter values and initial states at the library boundary.

A value may be a Python or NumPy number, a SymPy number, or text (``"0.25"``, ``"1e-3"``, ``"1/3"``: what the
command line passes). It is checked in float64 first, before anything exact is built from it (a literal such
as ``1e999999999`` would otherwise become a billion-digit integer), and refused if it is not finite, underflows
to zero, or lies outside its domain. Accepted values become exact SymPy rationals (``0.1`` is ``1/10``, the
number the user wrote), so that closed forms are evaluated exactly where SymPy can.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import sympy as sp

from .errors import DomainError, WrongTypeError

MAX_TEXT_LENGTH = 64  # characters of a numeric literal; enough for any float64 written in full
DOMAIN_REQUIREMENTS = {"positive": "a finite number > 0", "real": "a finite real number",
                       "positive_integer": "a positive integer"}
# Integer parameters (widths) beyond this are not widths anyone can run, and their exact powers are expensive.
MAX_INTEGER = 10 ** 15
# Closed forms are evaluated exactly (factoring, simplification, realizability); SymPy's exact algebra on numbers of
# hundreds of digits overflows floats or runs for hours, so values must lie within this stated size.
MAX_MAGNITUDE = 1e15
_TEXT_CHARACTERS = set("0123456789+-./eE")


def value_mapping(values) -> dict:
    """Parameter ``values`` (a mapping ``{name: value}``, or None for none) as a dict; anything else is refused,
    so that an option or a number passed by position is not read as parameter values."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise WrongTypeError("values", values, "a mapping {parameter name: value}")
    return dict(values)


def _from_text(name: str, text: str) -> sp.Rational:
    stripped = text.strip()
    if not stripped or len(stripped) > MAX_TEXT_LENGTH or set(stripped) - _TEXT_CHARACTERS:
        raise DomainError(name, repr(text), "a number such as 0.5, 1e-3 or 1/3")
    numerator, slash, denominator = stripped.partition("/")
    try:
        parts = [float(numerator)] + ([float(denominator)] if slash else [])
    except ValueError:
        raise DomainError(name, repr(text), "a number such as 0.5, 1e-3 or 1/3") from None
    _check_float(name, stripped, parts[0])
    if slash:
        _check_float(name, stripped, parts[1])
        if parts[1] == 0:
            raise DomainError(name, stripped, "a number (division by zero)")
    # Safe now: every literal is a finite float64, so its exact value has at most ~330 digits.
    return sp.Rational(numerator) / (sp.Rational(denominator) if slash else 1)


def _check_float(name: str, shown, value: float) -> None:
    if not math.isfinite(value):
        raise DomainError(name, shown, "finite in float64 (|value| < 1.8e308)")


def to_number(name: str, value, domain: str = "real") -> sp.Rational:
    """``value`` as an exact SymPy number in ``domain`` (module docstring), or a :class:`DomainError`."""
    if isinstance(value, str):
        exact = _from_text(name, value)
    elif isinstance(value, bool) or not isinstance(value, (numbers.Number, sp.Basic)):
        raise DomainError(name, repr(value), "a number (int, float, SymPy number or numeric text)")
    elif isinstance(value, sp.Basic):
        if not value.is_number or value.is_real is not True:
            raise DomainError(name, value, "a real number")
        exact = value if value.is_Rational else sp.nsimplify(value, rational=True) if value.is_Float else value
    elif isinstance(value, numbers.Integral):
        exact = sp.Integer(int(value))
    elif isinstance(value, numbers.Real):
        _check_float(name, value, float(value))
        exact = sp.Rational(repr(float(value)))
    else:
        raise DomainError(name, value, "a real number")
    try:
        as_float = float(exact)
    except (OverflowError, TypeError):
        as_float = math.inf
    _check_float(name, value, as_float)
    if exact != 0 and as_float == 0:
        raise DomainError(name, value, "representable in float64 (|value| > 2.2e-308): it underflows to 0")
    if exact != 0 and not 1 / MAX_MAGNITUDE <= abs(as_float) <= MAX_MAGNITUDE:
        raise DomainError(name, value, f"0 or of magnitude between {1 / MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g}")
    if domain in ("positive", "positive_integer") and not exact > 0:
        raise DomainError(name, value, f"{DOMAIN_REQUIREMENTS[domain]}")
    if domain == "positive_integer" and (not exact.is_integer or exact > MAX_INTEGER):
        raise DomainError(name, value, f"a positive integer at most {MAX_INTEGER:.0e}")
    return exact


def to_floats(name: str, values, domain: str = "real"):
    """A grid of values (an array or sequence of real numbers) as a float64 array, each checked as
    :func:`to_number` checks one value, but vectorised: an orbit diagram validates a million values in
    milliseconds. Text, SymPy numbers and other objects take the one-by-one route. The error names the first
    value that fails."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind not in "iuf" or array.dtype == np.bool_:
        return np.array([float(to_number(name, v, domain)) for v in np.ravel(array)], dtype=float)
    grid = np.ravel(array).astype(float)
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(grid)
        good = np.isfinite(grid) & ((grid == 0) | ((magnitude >= 1 / MAX_MAGNITUDE) & (magnitude <= MAX_MAGNITUDE)))
        if domain in ("positive", "positive_integer"):
            good &= grid > 0
        if domain == "positive_integer":
            good &= (grid == np.round(grid)) & (grid <= MAX_INTEGER)
    if not good.all():
        first = np.ravel(array)[np.argmin(good)]
        to_number(name, first.item(), domain)  # raises the one-value error for it
        raise DomainError(name, first.item(), DOMAIN_REQUIREMENTS[domain])  # pragma: no cover - to_number raised
    return grid


def to_count(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer argument (steps, points, a width, a seed) in ``[minimum, maximum]``, or a :class:`DomainError`.

    Booleans and floats are refused: ``steps=1e6`` is a float, and ``True`` is not a count."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum or (
            maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise DomainError(name, value, f"an integer {bounds}")
    return int(value)
