"""Running a user's own code (a model file, its ``describe``, an ``nn --model`` factory): whatever it does wrong is
the user's, and is reported as one :class:`~analysis.errors.UserInputError` naming the code, never as a traceback
of the toolkit or a silent exit.

``sys.exit`` in a user's file would otherwise end the command with the status the file chose (``0`` with no output
at all); it is a ``SystemExit`` exception, caught here like any other. ``KeyboardInterrupt`` passes through: an
interrupt is the user's answer, not a fault of their code. (``os._exit`` cannot be caught.)
"""
from __future__ import annotations

from contextlib import contextmanager

from .errors import UserInputError


def describe_failure(error: BaseException) -> str:
    """``raised RuntimeError: no model today`` or ``called sys.exit(0)``: what went wrong, on one line."""
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})"
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return "raised " + (text.splitlines() or [""])[0]


@contextmanager
def users_code(where: str):
    """``with users_code("model file m.py: describe('default')"):`` run the user's code; an exception or
    ``sys.exit`` inside becomes ``UserInputError(f"{where} {what}")`` (:func:`describe_failure`: ``... raised
    RuntimeError: boom``, ``... called sys.exit(0)``). A
    :class:`UserInputError` raised by the toolkit's own checks inside (e.g. building a ``Model`` with a bad value)
    is reported the same way, prefixed by ``where``."""
    try:
        yield
    except KeyboardInterrupt:
        raise
    except (Exception, SystemExit) as error:  # noqa: BLE001 - any failure of the user's code is one user error
        raise UserInputError(f"{where} {describe_failure(error)}"[:1000]) from None
