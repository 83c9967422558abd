"""Typed exceptions of the toolkit, phrased for a Python caller.

Every error a user can cause derives from :class:`UserInputError` (itself a :class:`ValueError`), and carries
the structured facts (``name``, ``allowed``, ``domain`` ...) that a front end needs to phrase it in its own
terms: the command line prints ``str(error)`` (or a rephrasing that names its options) on one line of stderr and
exits with status 2, never with a traceback.
"""
from __future__ import annotations


class ToolkitError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class UserInputError(ToolkitError, ValueError):
    """Bad input: an unknown name, a malformed or out-of-domain value, an impossible combination of arguments."""


class UnknownNameError(UserInputError):
    """A name that is not one of the allowed ones (model, parameter, state variable, result, ...).

    ``str(error)`` reads ``unknown {kind} {name!r}{where}; expected one of: {allowed}``.
    """

    def __init__(self, kind: str, name: str, allowed, where: str = ""):
        self.kind, self.name, self.allowed, self.where = kind, name, list(allowed), where
        super().__init__(f"unknown {kind} {name!r}{where}; expected one of: {', '.join(map(str, self.allowed))}")


class MissingValueError(UserInputError):
    """A parameter or initial state variable without a default was not given.

    ``kind`` is ``"parameter"`` or ``"state variable"``; ``expected`` lists every name that must be given.
    """

    def __init__(self, kind: str, name: str, model: str, expected=()):
        self.kind, self.name, self.model, self.expected = kind, name, model, list(expected)
        what = "value for parameter" if kind == "parameter" else "initial value of"
        hint = f" (expected: {', '.join(self.expected)})" if self.expected else ""
        where = "values" if kind == "parameter" else "init"
        super().__init__(f"missing {what} {name!r} of model {model!r}; pass {where}={{{name!r}: ...}}{hint}")


class DomainError(UserInputError):
    """A value outside its domain (not finite, not positive, not an integer, too large to represent)."""

    def __init__(self, name: str, value, requirement: str):
        self.name, self.value, self.requirement = name, value, requirement
        super().__init__(f"{name} must be {requirement}, got {value}")


class WrongTypeError(UserInputError, TypeError):
    """An argument of the wrong type (a list where a model name goes, a mapping expected): a ``TypeError`` for a
    Python caller, and a :class:`UserInputError` like every other bad input."""

    def __init__(self, name: str, value, expected: str):
        self.name, self.value, self.expected = name, value, expected
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        super().__init__(f"{name} must be {expected}, got {type(value).__name__} {shown}")


def python_keyword(argument: str, value=None) -> str:
    """How a Python caller passes ``argument``: ``every=11445``, ``force=True``, ``max_memory=`` (no value)."""
    return f"{argument}=" if value is None else f"{argument}={value}"


class KeywordError(UserInputError):
    """An error whose message names arguments of the Python API (``every=``, ``max_memory=``, ``loss=``).

    The message is a template with one field per argument (``"thin it with {every} or more"``); ``arguments``
    maps each argument's name to the value the message suggests (``None``: the name alone). ``str(error)`` names
    them as Python keywords (:func:`python_keyword`: ``every=11445``); a front end names them its own way with
    :meth:`phrase` (the command line: ``--every 11445``), from the argument names, not by rewriting the text.
    """

    def __init__(self, template: str, **arguments):
        self.template, self.arguments = template, dict(arguments)
        super().__init__(self.phrase(python_keyword))

    @property
    def keywords(self) -> list:
        return list(self.arguments)

    def phrase(self, name_argument) -> str:
        """The message with each argument written ``name_argument(argument, value)``."""
        return self.template.format(**{k: name_argument(k, v) for k, v in self.arguments.items()})


class ResourceLimitError(KeywordError):
    """A request whose memory or time estimate exceeds the budget; the message says what would fit."""


class UnsupportedOptionError(KeywordError):
    """A model option (``loss=``, ``depth=``) given to a model that is not built from options."""


class OutputError(ToolkitError, OSError):
    """An output that could not be written (a full disk, a read-only file system, a file locked by another
    writer); the message says what was kept. The command line exits with status 1 (the input was fine)."""


class DerivationError(ToolkitError, RuntimeError):
    """A derivation step could not prove what it must (e.g. the map does not close on the state)."""


class DerivationTimeout(DerivationError):
    """A derivation exceeded its time budget (user-written losses are derived under one)."""
